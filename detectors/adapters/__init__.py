"""Model-pack adapters: the code that builds a published architecture for its weights (never the weights)."""
