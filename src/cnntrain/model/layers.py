"""Layer types from torch.nn: convolution, pooling, normalisation, linear, flatten, activations.

Each builder checks the incoming shape (one sample: (C, *spatial) or (features,)), computes the output
shape with the convolution arithmetic, and builds the PyTorch module with the inferred arguments
(in_channels, in_features, num_features) filled in.
"""

from __future__ import annotations

import copy
import math
import warnings

import torch
from torch import nn

from cnntrain.errors import ConfigError, ShapeError
from cnntrain.model.arithmetic import adaptive_window, conv_out, effective_kernel, pool_out
from cnntrain.model.kernels import kernel_tensor
from cnntrain.model.registry import Built, register
from cnntrain.text import compact_text, shape_text

AXES = {1: "L", 2: "H x W", 3: "D x H x W"}


def count(shape) -> int:
    """Elements in a shape; 0 while a size is still unknown."""
    return 0 if any(s is None for s in shape) else math.prod(shape)


def ints(value, dims: int, name: str, minimum: int = 1) -> tuple:
    """An int, or a list of `dims` ints, as a tuple of `dims` ints, each at least `minimum`."""
    values = (value,) * dims if isinstance(value, int) and not isinstance(value, bool) else value
    if isinstance(values, (list, tuple)) and len(values) == dims and all(
        isinstance(v, int) and not isinstance(v, bool) and v >= minimum for v in values
    ):
        return tuple(values)
    raise ConfigError(f"{name} must be an int >= {minimum} or a list of {dims} such ints, got {value!r}")


def positive(value, name: str) -> int:
    """A width (out_channels, out_features, num_groups): an int of at least 1."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
        return value
    raise ConfigError(f"{name} must be a positive int, got {value!r}")


def need_rank(in_shape: tuple, dims: int, what: str) -> None:
    if len(in_shape) == dims + 1:
        return
    if len(in_shape) == 1:
        hint = "it comes after flatten or linear; put it before them"
    else:
        hint = f"the input is {len(in_shape) - 1}D; use the {len(in_shape) - 1}d version"
    raise ShapeError(f"{what} expects C x {AXES[dims]}, got input {shape_text(in_shape)}; {hint}")


def check_fits(out: tuple, in_shape: tuple, kernel: tuple, padding, advice: str, dilation=None) -> None:
    if any(o is not None and o < 1 for o in out):
        span = ""
        if dilation is not None and any(d > 1 for d in dilation):
            spans = tuple(map(effective_kernel, kernel, dilation))
            span = f" with dilation {compact_text(dilation)} spans {compact_text(spans)}"
        pad = f" with padding {compact_text(padding)}" if any(padding) else ""
        raise ShapeError(f"kernel_size {compact_text(kernel)}{span} > input {shape_text(in_shape[1:])}{pad}; {advice}")


# --- convolution ---------------------------------------------------------------------------------


def _register_conv(dims: int) -> None:
    @register(f"conv{dims}d", torch_class=getattr(nn, f"Conv{dims}d"), inferred=("in_channels",))
    def conv(in_shape, ctx, *, out_channels=None, kernel_size=None, weights=None, trainable=True, **args):
        """Convolution; `weights` sets hand-designed filters (sobel_x, ...), `trainable: false` freezes them;
        `groups: in_channels` makes it depthwise (one filter group per incoming channel, as in MobileNet)."""
        need_rank(in_shape, dims, f"conv{dims}d")
        fixed = None
        if args.get("groups") == "in_channels":
            args["groups"] = in_shape[0]
        positive(args.get("groups", 1), "groups")  # before kernel_tensor divides by it
        if weights is not None:
            fixed = kernel_tensor(weights, in_channels=in_shape[0], groups=args.get("groups", 1), dims=dims)
            out_channels = _agree("out_channels", out_channels, fixed.shape[0])
            kernel_size = _agree("kernel_size", kernel_size, list(fixed.shape[2:]), dims)
        if out_channels is None or kernel_size is None:
            raise ConfigError(f"conv{dims}d needs out_channels and kernel_size (or weights)")
        positive(out_channels, "out_channels")
        k = ints(kernel_size, dims, "kernel_size")
        s = ints(args.get("stride", 1), dims, "stride")
        d = ints(args.get("dilation", 1), dims, "dilation")
        padding = args.get("padding", 0)
        if padding == "same":
            out = in_shape[1:]
        else:
            p = (0,) * dims if padding == "valid" else ints(padding, dims, "padding", minimum=0)
            out = tuple(conv_out(i, *kspd) for i, kspd in zip(in_shape[1:], zip(k, s, p, d)))
            check_fits(out, in_shape, k, p, "use padding or a smaller kernel", dilation=d)
        module = getattr(nn, f"Conv{dims}d")(in_shape[0], out_channels, kernel_size, **args)
        if fixed is not None:
            _set_fixed_weights(module, fixed)
        module.requires_grad_(trainable)
        out_shape = (out_channels, *out)
        macs = count(out_shape) * (in_shape[0] // args.get("groups", 1)) * math.prod(k)
        return Built(module, out_shape, macs, kernel=tuple(map(effective_kernel, k, d)), stride=s)


def _agree(name, given, implied, dims=None):
    if given is not None and (ints(given, dims, name) != tuple(implied) if dims else given != implied):
        raise ConfigError(f"{name} {given} disagrees with the weights given, which imply {implied}")
    return implied


def _set_fixed_weights(module, weight: torch.Tensor) -> None:
    with torch.no_grad():
        module.weight.copy_(weight)
        if module.bias is not None:
            module.bias.zero_()


def _register_conv_transpose(dims: int) -> None:
    cls = getattr(nn, f"ConvTranspose{dims}d")

    @register(f"convtranspose{dims}d", torch_class=cls, inferred=("in_channels",))
    def conv_transpose(in_shape, ctx, **args):
        need_rank(in_shape, dims, f"convtranspose{dims}d")
        if args.get("groups") == "in_channels":
            args["groups"] = in_shape[0]
        positive(args["out_channels"], "out_channels")
        k = ints(args["kernel_size"], dims, "kernel_size")
        s, p, d, op = (ints(args.get(n, v), dims, n, minimum) for n, v, minimum in
                       (("stride", 1, 1), ("padding", 0, 0), ("dilation", 1, 1), ("output_padding", 0, 0)))
        if any(opi >= max(si, di) for opi, si, di in zip(op, s, d)):
            raise ConfigError(f"output_padding {compact_text(op)} must be smaller than the stride {compact_text(s)} "
                              f"or the dilation {compact_text(d)}")
        out = tuple(
            None if i is None else (i - 1) * si - 2 * pi + di * (ki - 1) + opi + 1
            for i, ki, si, pi, di, opi in zip(in_shape[1:], k, s, p, d, op)
        )
        check_fits(out, in_shape, k, p, "use less padding")
        module = cls(in_shape[0], **args)
        macs = count(in_shape) * (args["out_channels"] // args.get("groups", 1)) * math.prod(k)
        return Built(module, (args["out_channels"], *out), macs)


# --- pooling -------------------------------------------------------------------------------------


def _register_pool(kind: str, dims: int) -> None:
    cls = getattr(nn, f"{kind}Pool{dims}d")

    @register(f"{kind.lower()}pool{dims}d", torch_class=cls)
    def pool(in_shape, ctx, **args):
        need_rank(in_shape, dims, f"{kind.lower()}pool{dims}d")
        k = ints(args["kernel_size"], dims, "kernel_size")
        stride = args.get("stride")
        s = ints(args["kernel_size"] if stride is None else stride, dims, "stride")
        p = ints(args.get("padding", 0), dims, "padding", minimum=0)
        d = ints(args.get("dilation", 1), dims, "dilation")
        # PyTorch compares the padding with the kernel itself, not with its dilated span.
        if any(pi > ki // 2 for pi, ki in zip(p, k)):
            raise ShapeError(f"padding {compact_text(p)} is more than half the kernel {compact_text(k)}; "
                             "PyTorch does not allow it")
        out = tuple(pool_out(i, ki, si, pi, di, args.get("ceil_mode", False))
                    for i, ki, si, pi, di in zip(in_shape[1:], k, s, p, d))
        check_fits(out, in_shape, k, p, "pool less or remove a pooling layer", dilation=d)
        if kind == "Avg" and dims == 3 and any(i is not None and i < ki for i, ki in zip(in_shape[1:], k)):
            # PyTorch's avg_pool3d checks the input against the kernel before padding it.
            raise ShapeError(f"kernel_size {compact_text(k)} > input {shape_text(in_shape[1:])}; "
                             "avgpool3d does not count "
                             "its padding here; pool less or remove a pooling layer")
        return Built(cls(**args), (in_shape[0], *out), kernel=tuple(map(effective_kernel, k, d)), stride=s)


def _register_adaptive_pool(kind: str, dims: int) -> None:
    cls = getattr(nn, f"Adaptive{kind}Pool{dims}d")

    @register(f"adaptive{kind.lower()}pool{dims}d", torch_class=cls)
    def adaptive_pool(in_shape, ctx, **args):
        need_rank(in_shape, dims, f"adaptive{kind.lower()}pool{dims}d")
        size = args["output_size"]
        size = (size,) * dims if isinstance(size, int) or size is None else tuple(size)
        if len(size) != dims or not all(o is None or (isinstance(o, int) and not isinstance(o, bool) and o >= 1)
                                        for o in size):
            raise ConfigError(f"output_size must be a positive int or a list of {dims} positive ints (or null), "
                              f"got {args['output_size']!r}")
        out = tuple(i if o is None else o for i, o in zip(in_shape[1:], size))
        windows = [adaptive_window(i, o) for i, o in zip(in_shape[1:], out)]
        kernel = None if any(w[0] is None for w in windows) else tuple(w[0] for w in windows)
        stride = None if kernel is None else tuple(w[1] for w in windows)
        return Built(cls(**args), (in_shape[0], *out), kernel=kernel, stride=stride)


# --- normalisation, linear, flatten ----------------------------------------------------------------


def _register_feature_norm(prefix: str, dims: int) -> None:
    cls = getattr(nn, f"{prefix}{dims}d")

    @register(f"{prefix.lower()}{dims}d", torch_class=cls, inferred=("num_features",))
    def norm(in_shape, ctx, **args):
        if not (len(in_shape) == dims + 1 or (dims == 1 and len(in_shape) == 1 and prefix == "BatchNorm")):
            need_rank(in_shape, dims, f"{prefix.lower()}{dims}d")
        return Built(cls(in_shape[0], **args), in_shape)


@register("groupnorm", torch_class=nn.GroupNorm, inferred=("num_channels",))
def groupnorm(in_shape, ctx, **args):
    if in_shape[0] % positive(args["num_groups"], "num_groups"):
        raise ShapeError(f"num_groups {args['num_groups']} does not divide the {in_shape[0]} input channels")
    return Built(nn.GroupNorm(num_channels=in_shape[0], **args), in_shape)


@register("layernorm", torch_class=nn.LayerNorm)
def layernorm(in_shape, ctx, *, normalized_shape=None, **args):
    """Layer normalisation over the last dimensions; by default over the whole sample."""
    shape = list(in_shape) if normalized_shape is None else normalized_shape
    tail = [shape] if isinstance(shape, int) else list(shape)
    if not tail or len(tail) > len(in_shape) or tail != list(in_shape[len(in_shape) - len(tail):]):
        raise ShapeError(f"normalized_shape {shape!r} must be the last dimensions of the input {shape_text(in_shape)}; "
                         "leave it out to normalise the whole sample")
    return Built(nn.LayerNorm(shape, **args), in_shape)


@register("linear", torch_class=nn.Linear, inferred=("in_features",))
def linear(in_shape, ctx, **args):
    if len(in_shape) > 1:
        raise ShapeError(f"linear gets a {len(in_shape)}-D input {shape_text(in_shape)}; add `flatten` before it")
    if in_shape[0] is None:
        raise ShapeError("linear needs a known input size; set data.image_size")
    positive(args["out_features"], "out_features")
    module = nn.Linear(in_shape[0], **args)
    return Built(module, (args["out_features"],), in_shape[0] * args["out_features"], is_global=True)


@register("flatten", torch_class=nn.Flatten)
def flatten(in_shape, ctx, **args):
    full = (1, *in_shape)  # Flatten's dims count the batch
    dims = (args.get("start_dim", 1), args.get("end_dim", -1))
    if not all(isinstance(d, int) and not isinstance(d, bool) and -len(full) <= d < len(full) for d in dims):
        raise ShapeError(f"flatten start_dim and end_dim must be ints from {-len(full)} to {len(full) - 1} "
                         f"(the batch is dimension 0), got {dims[0]!r} and {dims[1]!r}")
    start, end = (d % len(full) for d in dims)
    if start == 0:
        raise ConfigError("flatten start_dim 0 would merge the batch; use start_dim 1 (the default)")
    if start > end:
        raise ConfigError(f"flatten start_dim {dims[0]} comes after end_dim {dims[1]}")
    merged = full[start: end + 1]
    size = None if None in merged else math.prod(merged)
    return Built(nn.Flatten(**args), (*full[1:start], size, *full[end + 1:]), is_global=True)


@register("upsample", torch_class=nn.Upsample, first_arg="scale_factor")
def upsample(in_shape, ctx, **args):
    dims = len(in_shape) - 1
    if dims < 1:
        raise ShapeError(f"upsample expects C x L, C x H x W or C x D x H x W, got input {shape_text(in_shape)}; "
                         "put it before flatten")
    if (args.get("size") is None) == (args.get("scale_factor") is None):
        raise ConfigError("upsample needs exactly one of size and scale_factor, e.g. `upsample: 2`")
    if args.get("size") is not None:
        out = ints(args["size"], dims, "size")
    else:
        factor = args["scale_factor"]
        factors = list(factor) if isinstance(factor, (list, tuple)) else [factor] * dims
        if len(factors) != dims or not all(
            isinstance(f, (int, float)) and not isinstance(f, bool) and 0 < f < math.inf for f in factors
        ):
            raise ConfigError(f"scale_factor must be a positive number or a list of {dims}, got {factor!r}")
        out = tuple(None if i is None else int(i * f) for i, f in zip(in_shape[1:], factors))
        if any(o is not None and o < 1 for o in out):
            raise ShapeError(f"scale_factor {factor} shrinks the input {shape_text(in_shape[1:])} to nothing "
                             f"({shape_text(out)}); use a larger factor")
    return Built(nn.Upsample(**args), (in_shape[0], *out))


def _register_elementwise(cls) -> None:
    """Activations, dropout and the like: same shape out as in."""

    @register(cls.__name__.lower(), torch_class=cls)
    def elementwise(in_shape, ctx, **args):
        module = cls(**args)
        _probe(module, in_shape)
        return Built(module, in_shape)


def _probe(module: nn.Module, in_shape: tuple) -> None:
    """Run the layer once on a tiny input of the same rank and channels, to catch what its constructor
    lets through: softmax's dim out of range, dropout1d on an image, PReLU's count against the channels.
    Elementwise layers do not care about spatial sizes, so each is cut to 2: microseconds on the CPU."""
    if any(s is None for s in in_shape):
        return  # image_size null: the data decides later
    tiny = (2, in_shape[0], *(min(s, 2) for s in in_shape[1:]))
    if math.prod(tiny) > 1_000_000:
        return  # absurd channel counts: not worth the memory
    # A copy for modules with weights (PReLU): the model being built may live on the meta device.
    probe = copy.deepcopy(module).to_empty(device="cpu") if any(True for _ in module.parameters()) else module
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. softmax's implicit dim: the library never prints
            probe(torch.zeros(tiny, device="cpu"))
    except (RuntimeError, IndexError, TypeError, ValueError, ZeroDivisionError) as err:
        raise ShapeError(str(err).splitlines()[0] if str(err) else type(err).__name__) from None


for _dims in (1, 2, 3):
    _register_conv(_dims)
    _register_conv_transpose(_dims)
    for _kind in ("Max", "Avg"):
        _register_pool(_kind, _dims)
        _register_adaptive_pool(_kind, _dims)
    for _prefix in ("BatchNorm", "InstanceNorm"):
        _register_feature_norm(_prefix, _dims)

for _cls in (
    nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.PReLU, nn.ELU, nn.SELU, nn.CELU, nn.GELU, nn.SiLU, nn.Mish,
    nn.Hardswish, nn.Hardsigmoid, nn.Hardtanh, nn.Sigmoid, nn.Tanh, nn.Softplus, nn.Softmax,
    nn.LogSoftmax, nn.Identity, nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.AlphaDropout,
    nn.LocalResponseNorm,
):
    _register_elementwise(_cls)
