package api

import "net/http"

// getConfig answers the configuration in effect, secrets redacted.
func getConfig(s *server, _ *request) (int, any, error) {
	if s.o.Config == nil {
		return 0, nil, notFound("this server has no configuration to show")
	}
	return http.StatusOK, s.o.Config.Current(), nil
}

// reloadConfig re-reads the configuration and answers which keys were
// applied and which need a restart.
func reloadConfig(s *server, r *request) (int, any, error) {
	if s.o.Config == nil {
		return 0, nil, notFound("this server has no configuration to reload")
	}
	res, err := s.o.Config.Reload(r.Context())
	if err != nil {
		return 0, nil, err
	}
	if res.Applied == nil {
		res.Applied = []string{}
	}
	if res.RestartRequired == nil {
		res.RestartRequired = []string{}
	}
	return http.StatusOK, res, nil
}
