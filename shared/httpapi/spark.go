package httpapi

// SparkDeps are the services behind the spark routes.
type SparkDeps struct{}

// registerSpark declares the spark routes.
func (s *Server) registerSpark() {}
