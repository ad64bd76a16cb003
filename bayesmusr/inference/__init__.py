"""inference layer: MAP search, Laplace start, the one emcee wrapper, InferenceData output and LOO comparison."""
