"""Tiny re-creations of the reference networks' module trees, for the weight importer's tests (no download).

PromptMR as hellopipu/PromptMR builds it (module names, the prompt's leading axis, complex channels stacked
re0..reS-1, im0..imS-1 in the cascades' U-Nets, one PReLU shared by every block but each U-Net's first) and
E2E-VarNet as the `fastmri` package builds it (conv blocks with dropout, the output conv inside the last up
block, inputs padded to multiples of 16). Written here from the references' published structure; the k-space
arithmetic around the U-Nets (FFTs, RSS, the ACS mask) is this project's, which is not what is under test.
"""

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from fastmri_pl.mri.coils import rss
from fastmri_pl.mri.fft import fft2c, ifft2c
from fastmri_pl.mri.masks import acs_mask


def _conv(in_chans: int, out_chans: int, kernel: int, bias: bool = False) -> nn.Conv2d:
    return nn.Conv2d(in_chans, out_chans, kernel, padding=kernel // 2, bias=bias)


class RefCALayer(nn.Module):
    def __init__(self, channels: int, reduction: int = 4) -> None:
        super().__init__()
        self.avg_pool = nn.AdaptiveAvgPool2d(1)
        self.conv_du = nn.Sequential(
            nn.Conv2d(channels, channels // reduction, 1, bias=False),
            nn.ReLU(),
            nn.Conv2d(channels // reduction, channels, 1, bias=False),
            nn.Sigmoid(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.conv_du(self.avg_pool(x))


class RefCAB(nn.Module):
    def __init__(self, channels: int, act: nn.Module, use_ca: bool) -> None:
        super().__init__()
        self.body = nn.Sequential(_conv(channels, channels, 3), act, _conv(channels, channels, 3))
        self.CA = RefCALayer(channels) if use_ca else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.CA(self.body(x)) + x


def _cabs(count: int, channels: int, act: nn.Module, use_ca: bool) -> nn.Sequential:
    return nn.Sequential(*[RefCAB(channels, act, use_ca) for _ in range(count)])


class RefPromptBlock(nn.Module):
    def __init__(self, prompt_dim: int, prompt_len: int, prompt_size: int, lin_dim: int) -> None:
        super().__init__()
        shape = (1, prompt_len, prompt_dim, prompt_size, prompt_size)
        self.prompt_param = nn.Parameter(torch.rand(shape), requires_grad=False)
        self.linear_layer = nn.Linear(lin_dim, prompt_len)
        self.dec_conv3x3 = _conv(prompt_dim, prompt_dim, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weights = F.softmax(self.linear_layer(x.mean(dim=(-2, -1))), dim=1)
        prompt = (weights[:, :, None, None, None] * self.prompt_param).sum(dim=1)
        return self.dec_conv3x3(F.interpolate(prompt, x.shape[-2:], mode="bilinear"))


class RefDownBlock(nn.Module):
    def __init__(self, chans: int, out: int, count: int, act: nn.Module, use_ca: bool, first: bool) -> None:
        super().__init__()
        blocks = [RefCAB(chans, nn.PReLU() if first and i == 0 else act, use_ca) for i in range(count)]
        self.encoder = nn.Sequential(*blocks)
        self.down = nn.Conv2d(chans, out, 3, stride=2, padding=1, bias=True)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.encoder(x)
        return self.down(features), features


class RefUpBlock(nn.Module):
    def __init__(self, chans: int, out: int, prompt: int, count: int, act: nn.Module, use_ca: bool) -> None:
        super().__init__()
        self.fuse = _cabs(count, chans + prompt, act, use_ca)
        self.reduce = nn.Conv2d(chans + prompt, chans, 1, bias=False)
        self.up = nn.Sequential(
            nn.Upsample(scale_factor=2, mode="bilinear"), nn.Conv2d(chans, out, 1, bias=False)
        )
        self.ca = RefCAB(out, act, use_ca)

    def forward(self, x: torch.Tensor, prompt: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        return self.ca(self.up(self.reduce(self.fuse(torch.cat([x, prompt], dim=1)))) + skip)


class RefSkipBlock(nn.Module):
    def __init__(self, chans: int, count: int, act: nn.Module, use_ca: bool) -> None:
        super().__init__()
        self.skip_attn = _cabs(count, chans, act, use_ca) if count else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.skip_attn(x)


class RefPromptUnet(nn.Module):
    """Three levels, named as the reference names them."""

    def __init__(self, chans: int, act: nn.Module, n_feat0: int, feature_dim: Sequence[int], **sizes) -> None:
        super().__init__()
        widths = [n_feat0, *feature_dim]
        ca = not sizes["no_use_ca"]
        self.feat_extract = _conv(chans, n_feat0, 3)
        for level in (1, 2, 3):
            count, first = sizes["n_enc_cab"][level - 1], level == 1
            setattr(
                self,
                f"enc_level{level}",
                RefDownBlock(widths[level - 1], widths[level], count, act, ca, first),
            )
        for level in (1, 2, 3):
            skip = RefSkipBlock(widths[level - 1], sizes["n_skip_cab"][level - 1], act, ca)
            setattr(self, f"skip_attn{level}", skip)
        self.bottleneck = _cabs(sizes["n_bottleneck_cab"], widths[3], act, ca)
        for level in (3, 2, 1):
            dim, length, size = (sizes[k][level - 1] for k in ("prompt_dim", "len_prompt", "prompt_size"))
            setattr(self, f"prompt_level{level}", RefPromptBlock(dim, length, size, widths[level]))
            count = sizes["n_dec_cab"][level - 1]
            setattr(
                self, f"dec_level{level}", RefUpBlock(widths[level], widths[level - 1], dim, count, act, ca)
            )
        self.conv_last = _conv(n_feat0, chans, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.feat_extract(x)
        skips = []
        for level in (1, 2, 3):
            x, features = getattr(self, f"enc_level{level}")(x)
            skips.append(getattr(self, f"skip_attn{level}")(features))
        x = self.bottleneck(x)
        for level in (3, 2, 1):
            prompt = getattr(self, f"prompt_level{level}")(x)
            x = getattr(self, f"dec_level{level}")(x, prompt, skips[level - 1])
        return self.conv_last(x)


def _pad(x: torch.Tensor, multiple: int) -> tuple[torch.Tensor, tuple[slice, slice]]:
    h, w = x.shape[-2:]
    ph, pw = -h % multiple, -w % multiple
    x = F.pad(x, [pw // 2, pw - pw // 2, ph // 2, ph - ph // 2])
    return x, (slice(ph // 2, ph // 2 + h), slice(pw // 2, pw // 2 + w))


class RefNormPromptUnet(nn.Module):
    """Complex (N, S, H, W) -> same; the U-Net sees [re_0..re_S-1, im_0..im_S-1], normalised, padded to 8."""

    def __init__(self, images: int, act: nn.Module, **sizes) -> None:
        super().__init__()
        self.unet = RefPromptUnet(2 * images, act, **sizes)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        n = images.shape[1]
        x = torch.cat([images.real, images.imag], dim=1)
        mean = x.flatten(1).mean(1).reshape(-1, 1, 1, 1)
        std = x.flatten(1).std(1).reshape(-1, 1, 1, 1)
        x, (rows, cols) = _pad((x - mean) / std, 8)
        x = self.unet(x)[..., rows, cols] * std + mean
        return torch.complex(x[:, :n], x[:, n:])


class RefPromptMRBlock(nn.Module):
    def __init__(self, model: nn.Module, num_adj_slices: int) -> None:
        super().__init__()
        self.model = model
        self.num_adj_slices = num_adj_slices
        self.dc_weight = nn.Parameter(torch.ones(1))

    def forward(
        self, k: torch.Tensor, k0: torch.Tensor, mask: torch.Tensor, sens: torch.Tensor
    ) -> torch.Tensor:
        b, sc, h, w = k.shape
        coils = sc // self.num_adj_slices
        images = (ifft2c(k) * sens.conj()).reshape(b, self.num_adj_slices, coils, h, w).sum(2)
        expanded = fft2c(self.model(images).repeat_interleave(coils, dim=1) * sens)
        return k - torch.where(mask > 0, k - k0, 0) * self.dc_weight - expanded


class RefPromptSensitivity(nn.Module):
    def __init__(self, num_adj_slices: int, act: nn.Module, **sizes) -> None:
        super().__init__()
        self.num_adj_slices = num_adj_slices
        self.norm_unet = RefNormPromptUnet(1, act, **sizes)

    def forward(self, kspace: torch.Tensor, num_low_frequencies: torch.Tensor) -> torch.Tensor:
        b, sc, h, w = kspace.shape
        images = ifft2c(kspace * acs_mask(num_low_frequencies, w)).reshape(b * sc, 1, h, w)
        maps = self.norm_unet(images).reshape(b, self.num_adj_slices, sc // self.num_adj_slices, h, w)
        return (maps / rss(maps, dim=2).unsqueeze(2)).reshape(b, sc, h, w)


class RefPromptMR(nn.Module):
    """`num_cascades` cascades and a sensitivity net; `sizes` as PromptMR's constructor takes them."""

    def __init__(self, num_cascades: int, num_adj_slices: int, **sizes) -> None:
        super().__init__()
        act = nn.PReLU()  # the reference's default-argument PReLU: one module behind nearly every block
        common = {k: v for k, v in sizes.items() if not k.startswith("sens_")}
        sens = {**common, **{k[len("sens_") :]: v for k, v in sizes.items() if k.startswith("sens_")}}
        self.num_adj_slices = num_adj_slices
        self.sens_net = RefPromptSensitivity(num_adj_slices, act, **sens)
        self.cascades = nn.ModuleList(
            RefPromptMRBlock(RefNormPromptUnet(num_adj_slices, act, **common), num_adj_slices)
            for _ in range(num_cascades)
        )

    def forward(self, masked: torch.Tensor, mask: torch.Tensor, num_low: torch.Tensor) -> torch.Tensor:
        sens = self.sens_net(masked, num_low)
        kspace = masked.clone()
        for cascade in self.cascades:
            kspace = cascade(kspace, masked, mask, sens)
        centre = kspace.chunk(self.num_adj_slices, dim=1)[self.num_adj_slices // 2]
        return rss(ifft2c(centre), dim=1)


class RefBlock(nn.Module):
    """fastMRI's ConvBlock / TransposeConvBlock: a `layers` Sequential."""

    def __init__(self, *layers: nn.Module) -> None:
        super().__init__()
        self.layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


def _conv_block(in_chans: int, out_chans: int) -> RefBlock:
    def half(i: int) -> list[nn.Module]:
        return [nn.Conv2d(i, out_chans, 3, padding=1, bias=False), nn.InstanceNorm2d(out_chans)]

    return RefBlock(
        *half(in_chans),
        nn.LeakyReLU(0.2),
        nn.Dropout2d(0.0),
        *half(out_chans),
        nn.LeakyReLU(0.2),
        nn.Dropout2d(0.0),
    )


class RefUnet(nn.Module):
    def __init__(self, chans: int, pools: int) -> None:
        super().__init__()
        self.down_sample_layers = nn.ModuleList([_conv_block(2, chans)])
        width = chans
        for _ in range(pools - 1):
            self.down_sample_layers.append(_conv_block(width, 2 * width))
            width *= 2
        self.conv = _conv_block(width, 2 * width)
        self.up_conv, self.up_transpose_conv = nn.ModuleList(), nn.ModuleList()
        for level in range(pools):
            upsample = nn.ConvTranspose2d(2 * width, width, 2, stride=2, bias=False)
            self.up_transpose_conv.append(RefBlock(upsample, nn.InstanceNorm2d(width), nn.LeakyReLU(0.2)))
            block = _conv_block(2 * width, width)
            last = level == pools - 1
            self.up_conv.append(nn.Sequential(block, nn.Conv2d(width, 2, 1)) if last else block)
            width //= 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        stack = []
        for layer in self.down_sample_layers:
            x = layer(x)
            stack.append(x)
            x = F.avg_pool2d(x, 2)
        x = self.conv(x)
        for transpose, conv in zip(self.up_transpose_conv, self.up_conv, strict=True):
            skip = stack.pop()
            x = transpose(x)
            x = F.pad(x, [0, skip.shape[-1] - x.shape[-1], 0, skip.shape[-2] - x.shape[-2]], "reflect")
            x = conv(torch.cat([x, skip], dim=1))
        return x


class RefNormUnet(nn.Module):
    """Complex (N, 1, H, W): real and imaginary parts normalised apart, padded to multiples of 16."""

    def __init__(self, chans: int, pools: int) -> None:
        super().__init__()
        self.unet = RefUnet(chans, pools)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        x = torch.cat([image.real, image.imag], dim=1)
        mean = x.mean(dim=(2, 3), keepdim=True)
        std = x.flatten(2).std(2)[..., None, None]
        x, (rows, cols) = _pad((x - mean) / std, 16)
        x = self.unet(x)[..., rows, cols] * std + mean
        return torch.complex(x[:, :1], x[:, 1:])


class RefVarNetBlock(nn.Module):
    def __init__(self, chans: int, pools: int) -> None:
        super().__init__()
        self.model = RefNormUnet(chans, pools)
        self.dc_weight = nn.Parameter(torch.ones(1))

    def forward(
        self, k: torch.Tensor, k0: torch.Tensor, mask: torch.Tensor, sens: torch.Tensor
    ) -> torch.Tensor:
        image = (ifft2c(k) * sens.conj()).sum(dim=1, keepdim=True)
        expanded = fft2c(self.model(image) * sens)
        return k - torch.where(mask > 0, k - k0, 0) * self.dc_weight - expanded


class RefVarNetSensitivity(nn.Module):
    def __init__(self, chans: int, pools: int) -> None:
        super().__init__()
        self.norm_unet = RefNormUnet(chans, pools)

    def forward(self, kspace: torch.Tensor, num_low_frequencies: torch.Tensor) -> torch.Tensor:
        b, c, h, w = kspace.shape
        images = ifft2c(kspace * acs_mask(num_low_frequencies, w)).reshape(b * c, 1, h, w)
        maps = self.norm_unet(images).reshape(b, c, h, w)
        return maps / rss(maps, dim=1).unsqueeze(1)


class RefVarNet(nn.Module):
    def __init__(self, num_cascades: int, chans: int, pools: int, sens_chans: int, sens_pools: int) -> None:
        super().__init__()
        self.sens_net = RefVarNetSensitivity(sens_chans, sens_pools)
        self.cascades = nn.ModuleList(RefVarNetBlock(chans, pools) for _ in range(num_cascades))

    def forward(self, masked: torch.Tensor, mask: torch.Tensor, num_low: torch.Tensor) -> torch.Tensor:
        sens = self.sens_net(masked, num_low)
        kspace = masked.clone()
        for cascade in self.cascades:
            kspace = cascade(kspace, masked, mask, sens)
        return rss(ifft2c(kspace), dim=1)


def perturbed(net: nn.Module, seed: int) -> nn.Module:
    """Every parameter (shared ones once) moved off its initial value, so that a swapped key shows."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for parameter in net.parameters():
            parameter.add_(0.05 * torch.randn(parameter.shape, generator=generator))
    return net.eval()


def kspace_batch(
    adj_slices: int, coils: int = 2, height: int = 24, width: int = 20
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(masked k-space, mask, ACS count) of random k-space: every third line and 4 centre lines sampled."""
    generator = torch.Generator().manual_seed(7)
    shape = (1, adj_slices * coils, height, width)
    kspace = torch.complex(torch.randn(shape, generator=generator), torch.randn(shape, generator=generator))
    mask = torch.zeros(1, 1, 1, width)
    mask[..., ::3] = 1
    mask[..., width // 2 - 2 : width // 2 + 2] = 1
    return kspace * mask, mask, torch.tensor([4])


def relative_error(image: torch.Tensor, reference: torch.Tensor) -> float:
    return float((image - reference).norm() / reference.norm())
