package httpapi

// DiscoveryDeps are the services behind the discovery routes.
type DiscoveryDeps struct{}

// registerDiscovery declares the discovery routes.
func (s *Server) registerDiscovery() {}
