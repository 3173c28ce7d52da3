package httpapi

// ExecutionDeps are the services behind the executions routes.
type ExecutionDeps struct{}

// registerExecutions declares the executions routes.
func (s *Server) registerExecutions() {}
