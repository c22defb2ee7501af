"""augment_batch and shift_images: shapes, determinism, exact moves and fills."""

import pytest
import torch

from cnntrain.data import augment_batch, shift_images

ALL_ON = {"shift": 2, "crop": 3, "flip": True, "rotation": 15.0}


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("shape", [(5, 3, 12, 16), (4, 2, 20), (3, 1, 6, 7, 8)])
def test_shapes_and_determinism(shape):
    x = torch.rand(shape)
    a = augment_batch(x, ALL_ON, gen(1))
    b = augment_batch(x, ALL_ON, gen(1))
    c = augment_batch(x, ALL_ON, gen(2))
    assert a.shape == x.shape and a.dtype == x.dtype
    assert torch.equal(a, b) and not torch.equal(a, c)


@pytest.mark.parametrize(
    "augment", [{}, {"shift": 0, "crop": 0, "flip": False, "rotation": 0.0}]
)
def test_everything_off_is_identity(augment):
    x = torch.rand(2, 1, 8, 8)
    assert augment_batch(x, augment, gen()) is x


def test_flip_mirrors_some_samples_exactly():
    x = torch.rand(64, 1, 4, 5)
    y = augment_batch(x, {"flip": True}, gen())
    flipped = (y == x.flip(-1)).flatten(1).all(1)
    same = (y == x).flatten(1).all(1)
    assert (flipped | same).all() and 10 < int(flipped.sum()) < 54


def test_shift_moves_by_whole_pixels_within_range():
    x = torch.zeros(200, 1, 15, 15)
    x[:, 0, 7, 7] = 1.0
    y = augment_batch(x, {"shift": 2}, gen())
    pos = y.flatten(1).argmax(1)
    dy, dx = pos // 15 - 7, pos % 15 - 7
    assert (y.flatten(1).sum(1) == 1).all()  # nothing lost, nothing blurred
    assert dy.abs().max() == 2 and dx.abs().max() == 2
    # every offset in [-2, 2]^2 happens
    assert len(set(zip(dy.tolist(), dx.tolist()))) == 25


def test_crop_brings_in_zeros_and_shift_extends_the_edge():
    x = torch.full((50, 1, 6, 6), 0.5)
    cropped = augment_batch(x, {"crop": 2}, gen())
    assert set(cropped.unique().tolist()) == {0.0, 0.5}
    assert torch.equal(augment_batch(x, {"shift": 2}, gen()), x)


def test_rotation_only_touches_2d_and_keeps_a_centred_disc():
    yy, xx = torch.meshgrid(torch.arange(21.0), torch.arange(21.0), indexing="ij")
    disc = (
        (((yy - 10) ** 2 + (xx - 10) ** 2) < 36).float()[None, None].repeat(8, 1, 1, 1)
    )
    rotated = augment_batch(disc, {"rotation": 90.0}, gen())
    assert (rotated - disc).abs().mean() < 0.05  # only the anti-aliased rim changes
    assert float(rotated.sum()) == pytest.approx(float(disc.sum()), rel=0.05)
    signal, volume = torch.rand(3, 1, 16), torch.rand(2, 1, 4, 4, 4)
    assert torch.equal(augment_batch(signal, {"rotation": 30.0}, gen()), signal)
    assert torch.equal(augment_batch(volume, {"rotation": 30.0}, gen()), volume)


def test_non_square_rotation_by_90_degrees_is_rigid():
    """With the aspect correction a 180-degree turn of a non-square image is an exact
    flip."""
    x = torch.rand(1, 1, 6, 10)
    from cnntrain.data.augment import rotate

    turned = rotate(x, torch.tensor([180.0]))
    assert torch.allclose(turned, x.flip(-1).flip(-2), atol=1e-5)


@pytest.mark.parametrize("dtype", [torch.uint8, torch.float32])
def test_shift_images_moves_a_pixel_by_the_distance(dtype):
    x = torch.full((100, 1, 21, 21), 30, dtype=dtype)
    x[:, 0, 10, 10] = 200
    y = shift_images(x, 5, gen())
    assert y.dtype == dtype and y.shape == x.shape
    pos = y.flatten(1).argmax(1)
    dy, dx = (pos // 21 - 10).float(), (pos % 21 - 10).float()
    dist = torch.hypot(dy, dx)
    assert (
        (dist - 5).abs() <= 0.75
    ).all()  # rounding the direction keeps the length ~5
    assert len(set(zip(dy.tolist(), dx.tolist()))) > 10  # many directions
    assert (y == 200).flatten(1).sum(1).eq(1).all() and set(y.unique().tolist()) == {
        30,
        200,
    }
    assert torch.equal(shift_images(x, 5, gen()), y)


def test_shift_images_fills_with_each_images_background():
    x = torch.empty(2, 3, 16, 16, dtype=torch.uint8)
    x[0] = torch.tensor([10, 20, 30], dtype=torch.uint8).view(3, 1, 1)
    x[1] = torch.tensor([200, 100, 50], dtype=torch.uint8).view(3, 1, 1)
    x[:, :, 6:10, 6:10] = 255  # an object in the middle, 6 pixels from every edge
    y = shift_images(x, 4, gen(3))
    assert torch.equal(
        y[0].flatten(1).min(1).values, torch.tensor([10, 20, 30], dtype=torch.uint8)
    )
    assert torch.equal(
        y[1].flatten(1).min(1).values, torch.tensor([200, 100, 50], dtype=torch.uint8)
    )
    assert ((y == 255).flatten(1).sum(1) == 3 * 16).all()  # the object moved whole
    assert not torch.equal(y, x)
    # further than the image: only the fill is left
    z = shift_images(x, 20, gen(), fill=7.0)
    assert (z == 7).all()


def test_shift_images_1d_and_3d():
    signal = torch.zeros(20, 1, 11)
    signal[:, 0, 5] = 1.0
    moved = shift_images(signal, 3, gen()).flatten(1).argmax(1) - 5
    assert set(moved.tolist()) == {-3, 3}
    volume = torch.zeros(10, 1, 11, 11, 11)
    volume[:, 0, 5, 5, 5] = 1.0
    pos = shift_images(volume, 4, gen()).flatten(1).argmax(1)
    d = torch.stack([pos // 121 - 5, pos // 11 % 11 - 5, pos % 11 - 5], 1).float()
    assert ((d.norm(dim=1) - 4).abs() <= 1.0).all()


DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.mark.parametrize("device", DEVICES)
def test_works_on_the_device_of_the_batch(device):
    x = torch.rand(4, 3, 8, 8, device=device)
    y = augment_batch(x, ALL_ON, gen())
    assert y.device == x.device and y.shape == x.shape
    assert torch.allclose(y.cpu(), augment_batch(x.cpu(), ALL_ON, gen()), atol=1e-5)
    assert shift_images(x, 2, gen()).device == x.device
