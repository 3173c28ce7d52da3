package httpapi

// ScalingDeps are the services behind the scaling routes.
type ScalingDeps struct{}

// registerScaling declares the scaling routes.
func (s *Server) registerScaling() {}
