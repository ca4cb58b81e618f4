"""torch.nn.Modules: circuits, flows, wavelet autoencoders, INRs, downstream classifiers (no entropy coding here)."""
