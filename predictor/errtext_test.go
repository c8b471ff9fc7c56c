package predictor

// errText is err's message, or "" for no error: a cmp.Diff of messages
// then also tells a missing error from a different one.
func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
