"""Studio: a desktop image-translation studio (pix2pix, CycleGAN, VAE, flow)."""

__version__ = "0.1.0"
