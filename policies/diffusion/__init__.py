"""Diffusion Policy and flow matching over action chunks (``policy=diffusion``)."""
