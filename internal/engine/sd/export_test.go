package sd

// Test helpers for the package's external tests (package sd_test), such as the ControlNet benchmark.

// SynthUNetStateDict is synthUNetStateDict with random weights.
func SynthUNetStateDict(cfg UNetConfig, seed uint64) StateDict {
	return synthUNetStateDict(cfg, seed, nil)
}

// SD15Config is sd15Config.
func SD15Config() UNetConfig { return sd15Config() }
