"""Where a model looked: attribution maps from Captum, one per input, at the input's own resolution.

    heat = attribution_map(model, x, target=3, method="gradcam", layer=model.conv2)  # (H, W)

Captum supplies every method but Grad-CAM++, which it lacks: that one is computed here from the
target layer's activations and gradients as Captum returns them (`LayerActivation`, and
`LayerGradientXActivation` with `multiply_by_inputs=False`, which is the plain layer gradient),
with the weights of Chattopadhay et al. 2018. Maps are taken of the target class's logit.
Integrated gradients and occlusion compare the input with a black one (pixels 0).
"""

from __future__ import annotations

import torch
from captum.attr import (
    IntegratedGradients,
    LayerActivation,
    LayerAttribution,
    LayerGradCam,
    LayerGradientXActivation,
    Occlusion,
    Saliency,
)

from cnntrain.errors import CnntrainError

METHODS = ("gradcam", "gradcam++", "saliency", "integrated-gradients", "occlusion")
LAYER_METHODS = ("gradcam", "gradcam++")  # the ones that look at one layer's feature maps
SIGNED_METHODS = ("integrated-gradients", "occlusion")  # maps where negative means "against the class"

IG_STEPS = 32
OCCLUSION_FRACTION = 8  # the occluding patch spans about 1/8 of each side, moved by half its size
_INTERPOLATION = {1: "linear", 2: "bilinear", 3: "trilinear"}  # by spatial dimensions


def spatial_layers(layers: list) -> list:
    """LayerInfo of the top-level layers whose output is still a map (more than one position):
    the layers Grad-CAM can look at. A global pool's 1x1 output says nothing about where."""
    return [info for info in layers if len(info.out_shape) > 1 and any(s > 1 for s in info.out_shape[1:])]


def default_target_layer(layers: list):
    """The last layer with spatial output: the most abstract features that still know where."""
    maps = spatial_layers(layers)
    if not maps:
        raise CnntrainError("the model has no layer with spatial output (more than one position) for Grad-CAM; "
                            "use --method saliency, integrated-gradients or occlusion")
    return maps[-1]


def attribution_map(model: torch.nn.Module, x: torch.Tensor, *, target: int, method: str,
                    layer: torch.nn.Module | None = None, baseline: torch.Tensor | None = None) -> torch.Tensor:
    """The map of one normalised input x (1, C, *spatial) for class index `target`: (*spatial) float32
    on the CPU. `layer` is the module Grad-CAM looks at; `baseline` (like x) the "absent" input that
    integrated gradients and occlusion compare with (default: zeros)."""
    if method not in METHODS:
        raise CnntrainError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    if method in LAYER_METHODS and layer is None:
        raise ValueError(f"{method} needs the layer to look at")
    baseline = torch.zeros_like(x) if baseline is None else baseline
    with torch.enable_grad():
        heat = _METHOD[method](model, x.detach().requires_grad_(True), target, layer, baseline)
    return heat.detach()[0].float().cpu()


def _gradcam(model, x, target, layer, _baseline):
    cam = LayerGradCam(model, layer).attribute(x, target=target, relu_attributions=True)  # (1, 1, *s')
    return _upsample(cam, x)[:, 0]


def _gradcam_plus_plus(model, x, target, layer, _baseline):
    acts = LayerActivation(model, layer).attribute(x).detach()  # (1, K, *s')
    grads = LayerGradientXActivation(model, layer, multiply_by_inputs=False).attribute(x, target=target)
    spatial = tuple(range(2, acts.dim()))
    # alpha: each position's share of the channel weight, from the second and third derivatives of
    # exp(score), which reduce to powers of the first (the paper's eq. 19)
    g2, g3 = grads.pow(2), grads.pow(3)
    denominator = 2 * g2 + acts.sum(dim=spatial, keepdim=True) * g3
    alpha = torch.where(denominator != 0, g2 / denominator.where(denominator != 0, torch.ones_like(g2)), 0.0)
    weights = (alpha * grads.clamp(min=0)).sum(dim=spatial, keepdim=True)  # (1, K, 1...)
    cam = (weights * acts).sum(dim=1, keepdim=True).clamp(min=0)  # (1, 1, *s')
    return _upsample(cam, x)[:, 0]


def _saliency(model, x, target, _layer, _baseline):
    grads = Saliency(model).attribute(x, target=target, abs=True)  # (1, C, *s)
    return grads.amax(dim=1)  # the strongest channel, as Simonyan et al. 2014 show it


def _integrated_gradients(model, x, target, _layer, baseline):
    ig = IntegratedGradients(model).attribute(x, baselines=baseline, target=target, n_steps=IG_STEPS,
                                              internal_batch_size=IG_STEPS)
    return ig.sum(dim=1)  # (1, *s): the channels' contributions add up to the logit's change


def _occlusion(model, x, target, _layer, baseline):
    spatial = x.shape[2:]
    window = tuple(max(1, round(s / OCCLUSION_FRACTION)) for s in spatial)
    stride = tuple(max(1, w // 2) for w in window)
    channels = x.shape[1]  # one patch covers every channel: a pixel is hidden, not one colour of it
    drop = Occlusion(model).attribute(x, sliding_window_shapes=(channels, *window), strides=(channels, *stride),
                                      baselines=baseline, target=target, perturbations_per_eval=64)
    return drop.mean(dim=1)  # every channel got the same value


def _upsample(cam: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """A layer's coarse map (1, 1, *s') stretched over the input's (1, 1, *s) by linear interpolation."""
    spatial = tuple(x.shape[2:])
    if tuple(cam.shape[2:]) == spatial:
        return cam
    return LayerAttribution.interpolate(cam, spatial, interpolate_mode=_INTERPOLATION[len(spatial)])


_METHOD = {"gradcam": _gradcam, "gradcam++": _gradcam_plus_plus, "saliency": _saliency,
           "integrated-gradients": _integrated_gradients, "occlusion": _occlusion}
assert tuple(_METHOD) == METHODS
