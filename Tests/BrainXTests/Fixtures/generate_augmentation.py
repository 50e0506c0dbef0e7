# Fixtures for ImageAugmentationTests: UMBRAE's image-side augmentation (kornia RandomResizedCrop, HFlip,
# ColorJitter, RandomGrayscale; /work/shared/ref/umbrae-vindex.md B4) with fixed parameters, written in
# PyTorch from kornia's documented formulas (ColorJitter "aligns PIL": brightness multiplies, contrast blends
# with the grey mean, saturation with the grey image, hue rotates H in HSV by 2*pi*factor, each clamped to
# [0, 1]; grey = 0.299 R + 0.587 G + 0.114 B). The crop is resampled with F.interpolate(bilinear,
# align_corners=False). Hue goes through Python's colorsys, an implementation independent of both ours and
# kornia's. Run from the repository root (deterministic):
#   PYTHONPATH=/work/main/.libtorch/pkg python3 Tests/BrainXTests/Fixtures/generate_augmentation.py
# Writes augmentation_cases.safetensors beside this script.
import colorsys
import math
import os

import torch
import torch.nn.functional as F
from safetensors.torch import save_file

HERE = os.path.dirname(os.path.abspath(__file__))


def gray(x):  # (3, H, W) -> (1, H, W)
    return (0.299 * x[0] + 0.587 * x[1] + 0.114 * x[2]).unsqueeze(0)


def brightness(x, f):
    return (x * f).clamp(0, 1)


def contrast(x, f):
    m = gray(x).mean(dim=(-2, -1), keepdim=True)
    return ((x - m) * f + m).clamp(0, 1)


def saturation(x, f):
    g = gray(x)
    return ((x - g) * f + g).clamp(0, 1)


def hue(x, f):
    """Per pixel through colorsys (h in [0, 1)): h + f, wrapped."""
    out = torch.empty_like(x, dtype=torch.float64)
    for i in range(x.shape[1]):
        for j in range(x.shape[2]):
            h, s, v = colorsys.rgb_to_hsv(*(float(c) for c in x[:, i, j]))
            out[:, i, j] = torch.tensor(colorsys.hsv_to_rgb((h + f) % 1.0, s, v))
    return out.float()


def jitter(x, b, c, s, h, order):
    ops = [lambda t: brightness(t, b), lambda t: contrast(t, c), lambda t: saturation(t, s), lambda t: hue(t, h)]
    for k in order:
        x = ops[k](x)
    return x


def resized_crop(x, top, left, height, width, size):
    crop = x[:, top:top + height, left:left + width].unsqueeze(0)
    return F.interpolate(crop, size=(size, size), mode="bilinear", align_corners=False).squeeze(0)


def main():
    g = torch.Generator().manual_seed(0)
    # 20 x 24, values spread over [0, 1] with some pixels at the bounds (clamping) and a grey pixel (s = 0)
    image = torch.rand(3, 20, 24, generator=g, dtype=torch.float64).float()
    image[:, 0, 0] = 1.0
    image[:, 0, 1] = 0.0
    image[:, 1, 0] = 0.5
    image[0, 1, 1] = 1.0
    cases = {"image": image}
    cases["crop"] = resized_crop(image, 3, 5, 12, 15, 16)
    cases["resize"] = resized_crop(image, 0, 0, 20, 24, 16)
    cases["flip"] = image.flip(-1)
    cases["brightness"] = brightness(image, 1.3)
    cases["contrast"] = contrast(image, 0.7)
    cases["saturation"] = saturation(image, 1.2)
    cases["hue_plus"] = hue(image, 0.08)
    cases["hue_minus"] = hue(image, -0.1)
    cases["jitter"] = jitter(image, 0.8, 1.3, 0.85, 0.05, [3, 0, 2, 1])
    cases["grayscale"] = gray(image).repeat(3, 1, 1)
    # everything, in kornia's order: crop -> flip -> jitter -> grayscale (as ImageAugmentationTests sets it)
    full = resized_crop(image, 2, 1, 15, 18, 16).flip(-1)
    full = jitter(full, 1.1, 0.9, 1.15, -0.07, [1, 3, 2, 0])
    cases["full"] = full
    cases["full_gray"] = gray(full).repeat(3, 1, 1)
    save_file({k: v.contiguous() for k, v in cases.items()}, os.path.join(HERE, "augmentation_cases.safetensors"))
    print(f"wrote {len(cases)} cases")


if __name__ == "__main__":
    main()
