"""Networks: generators and discriminators compatible with the reference pix2pix/CycleGAN weights.

Importing this package registers every architecture, so ``build(arch, params)`` knows them all.
"""

from .autoencoder import ConvAE
from .dcgan import DCGANDiscriminator, DCGANGenerator
from .detect import clean_state_dict, detect_generator, load_into
from .discriminators import NLayerDiscriminator, PixelDiscriminator
from .flow import FlowDecoder, FlowEncoder, Glow
from .norm_layers import init_weights
from .patch_head import PatchMLPHead
from .pixelcnn import GatedPixelCNN
from .registry import REFERENCE_PRESETS, Network, architectures, build, register
from .resnet import MobileResnetGenerator, ResnetGenerator
from .spade import MultiscaleDiscriminator, SPADEGenerator
from .unet import UnetGenerator
from .vae import ConvVAE

__all__ = [
    "REFERENCE_PRESETS",
    "ConvAE",
    "ConvVAE",
    "DCGANDiscriminator",
    "DCGANGenerator",
    "FlowDecoder",
    "FlowEncoder",
    "GatedPixelCNN",
    "Glow",
    "MobileResnetGenerator",
    "MultiscaleDiscriminator",
    "NLayerDiscriminator",
    "Network",
    "PatchMLPHead",
    "PixelDiscriminator",
    "ResnetGenerator",
    "SPADEGenerator",
    "UnetGenerator",
    "architectures",
    "build",
    "clean_state_dict",
    "detect_generator",
    "init_weights",
    "load_into",
    "register",
]
