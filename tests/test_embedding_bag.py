"""EmbeddingBag against torch's own embedding_bag run in float64 on the CPU (the reference),
forward and gradients (weight and per_sample_weights), every mode, dtype and device; the
deterministic backward bit-identical run to run; bad input."""
import pytest
import torch
import torch.nn.functional as F

import metalcore
from helpers import EPS, rel_err

DTYPES = [torch.float32, torch.float16, torch.bfloat16, torch.float64]

# Output and gradients are sums of at most ~30 terms accumulated in fp32 (fp64) and rounded
# once: 16-bit dtypes stay within one unit roundoff of the largest magnitude (half an ulp from
# the rounding, the fp32 sum error is ~1e-6); fp32 within 30 ulp; fp64 far below 1e-12.
TOL = {torch.float32: 32 * EPS[torch.float32], torch.float64: 1e-12,
       torch.float16: 2 * EPS[torch.float16], torch.bfloat16: 2 * EPS[torch.bfloat16]}


def _skip_f64(device, dtype):
    if dtype == torch.float64 and device == "cuda":
        pytest.skip("float64 embedding_bag is CPU-only (documented); checked to raise in test_bad_input")


def _bags(n_bags, max_len, num, device, itype=torch.int64, empty=True):
    lens = torch.randint(0 if empty else 1, max_len + 1, (n_bags,))
    if empty and n_bags > 2:
        lens[1] = 0  # at least one empty bag
    idx = torch.randint(0, num, (int(lens.sum()),))
    offs = torch.cat((torch.zeros(1, dtype=torch.int64), lens.cumsum(0)[:-1]))
    return idx.to(itype).to(device), offs.to(itype).to(device), lens


# (num, D, n_bags, max_len): vector rows (D multiple of 8, 128 = the benchmark width, 264 more
# than one warp pass for 16-bit), prime and odd widths, a single row.
SHAPES = [(50, 128, 9, 20), (13, 7, 6, 5), (30, 264, 4, 40), (1, 3, 3, 4), (40, 16, 17, 3)]


def _run(device, dtype, shape, mode, *, psw=False, padding_idx=None, include_last=False, itype=torch.int64,
         deterministic=False):
    num, d, nb, ml = shape
    w0 = torch.randn(num, d, dtype=torch.float64).to(dtype)
    idx, offs, lens = _bags(nb, ml, num, device, itype)
    if include_last:
        offs = torch.cat((offs, torch.tensor([idx.numel()], dtype=itype, device=device)))
    p0 = torch.randn(idx.shape, dtype=torch.float64).to(dtype) if psw else None
    w = w0.clone().to(device).requires_grad_(True)
    p = p0.clone().to(device).requires_grad_(True) if psw else None
    out = metalcore.embedding_bag(idx, w, offs, mode=mode, per_sample_weights=p, include_last_offset=include_last,
                                  padding_idx=padding_idx, deterministic=deterministic)
    wr = w0.double().clone().requires_grad_(True)
    pr = p0.double().clone().requires_grad_(True) if psw else None
    ref = F.embedding_bag(idx.cpu(), wr, offs.cpu(), mode=mode, per_sample_weights=pr,
                          include_last_offset=include_last, padding_idx=padding_idx)
    assert out.shape == ref.shape and out.dtype == dtype
    assert rel_err(out, ref) <= TOL[dtype], rel_err(out, ref)
    g = torch.randn(out.shape, dtype=torch.float64).to(dtype)
    out.backward(g.to(device))
    ref.backward(g.double())
    assert rel_err(w.grad, wr.grad) <= TOL[dtype]
    if psw:
        assert rel_err(p.grad, pr.grad) <= TOL[dtype]
    return w.grad


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
@pytest.mark.parametrize("shape", SHAPES)
def test_modes(device, dtype, mode, shape):
    _skip_f64(device, dtype)
    _run(device, dtype, shape, mode)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
def test_options(device, dtype, mode):
    shape = (40, 32, 12, 9)
    _run(device, dtype, shape, mode, padding_idx=3, include_last=True, itype=torch.int32)
    _run(device, dtype, shape, mode, padding_idx=-1, deterministic=True)
    if mode == "sum":
        _run(device, dtype, shape, mode, psw=True)
        _run(device, dtype, (13, 7, 5, 6), mode, psw=True, padding_idx=0, deterministic=True)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
def test_deterministic_bit_identical(device, dtype, mode):
    # Many collisions (few rows, long bags) so an order-dependent sum would differ.
    shape = (5, 40, 64, 30)
    torch.manual_seed(7)
    g1 = _run(device, dtype, shape, mode, deterministic=True)
    torch.manual_seed(7)
    g2 = _run(device, dtype, shape, mode, deterministic=True)
    assert torch.equal(g1, g2)


@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
def test_2d_input_and_module(device, mode):
    num, d = 20, 12
    m = metalcore.MetalEmbeddingBag(num, d, mode=mode, padding_idx=2).to(device)
    ref = torch.nn.EmbeddingBag(num, d, mode=mode, padding_idx=2, _weight=m.weight.detach().double().cpu().clone())
    x = torch.randint(0, num, (7, 5), device=device)
    x[0, 1] = 2
    out = m(x)
    r = ref(x.cpu())
    assert rel_err(out, r) <= TOL[torch.float32]
    out.sum().backward()
    r.sum().backward()
    assert rel_err(m.weight.grad, ref.weight.grad) <= TOL[torch.float32]
    assert torch.all(m.weight.grad[2] == 0)
    # 2-D input with per_sample_weights; include_last_offset as torch defines it for 2-D input
    if mode == "sum":
        pw = torch.rand(7, 5, device=device)
        assert rel_err(m(x, per_sample_weights=pw), ref(x.cpu(), per_sample_weights=pw.double().cpu())) <= TOL[torch.float32]
    w = torch.randn(num, d, device=device)
    for il in (False, True):
        o = metalcore.embedding_bag(x, w, mode=mode, include_last_offset=il)
        r = F.embedding_bag(x.cpu(), w.double().cpu(), mode=mode, include_last_offset=il)
        assert o.shape == r.shape and rel_err(o, r) <= TOL[torch.float32]


def test_empty(device):
    w = torch.randn(10, 6, device=device, requires_grad=True)
    idx = torch.empty(0, dtype=torch.int64, device=device)
    offs = torch.zeros(3, dtype=torch.int64, device=device)
    for mode in ("sum", "mean", "max"):
        out = metalcore.embedding_bag(idx, w, offs, mode=mode)
        assert out.shape == (3, 6) and torch.all(out == 0)
        out.sum().backward()
        assert torch.all(w.grad == 0)
    out = metalcore.embedding_bag(idx, w, offs[:0], mode="sum")
    assert out.shape == (0, 6)
    # non-contiguous weight view
    wt = torch.randn(6, 10, device=device).t()
    idx, offs, _ = _bags(5, 4, 10, device)
    assert rel_err(metalcore.embedding_bag(idx, wt, offs, mode="sum"),
                   F.embedding_bag(idx.cpu(), wt.double().cpu(), offs.cpu(), mode="sum")) <= TOL[torch.float32]


def test_every_element_written(device):
    # Poisoned output through the extension directly: every bag row, empty bags included.
    from metalcore import _C
    w = torch.randn(30, 24, device=device)
    idx, offs, _ = _bags(9, 5, 30, device)
    out = torch.full((9, 24), float("nan"), device=device)
    cnt = torch.full((9,), -7, dtype=torch.int64, device=device)
    mp = torch.full((9, 24), -7, dtype=torch.int64, device=device)
    err = torch.full((4,), -7, dtype=torch.int64, device=device)
    _C.embedding_bag_forward(w, idx, offs, None, 2, False, -1, out, cnt, mp, err)
    assert not torch.isnan(out).any() and torch.all(err == 0)
    r = F.embedding_bag(idx.cpu(), w.double().cpu(), offs.cpu(), mode="max")
    assert rel_err(out, r) <= TOL[torch.float32]
    lens = torch.diff(torch.cat((offs.cpu(), torch.tensor([idx.numel()]))))
    assert torch.equal(cnt.cpu(), lens)


def test_out_of_range(device):
    w = torch.randn(10, 8, device=device)
    offs = torch.tensor([0, 2], device=device)
    for bad in (10, -1, 1 << 40):
        idx = torch.tensor([1, 2, bad, 3], device=device)
        with pytest.raises(IndexError, match="out of range"):
            metalcore.embedding_bag(idx, w, offs, mode="sum")
        m = metalcore.MetalEmbeddingBag(10, 8).to(device)
        with pytest.raises(IndexError):
            m(idx, offs)
    with pytest.raises(ValueError, match="offsets"):
        metalcore.embedding_bag(torch.tensor([1, 2], device=device), w, torch.tensor([0, 5], device=device))
    with pytest.raises(ValueError, match="offsets"):
        metalcore.embedding_bag(torch.tensor([1, 2], device=device), w, torch.tensor([1, 2], device=device))
    if device == "cuda":
        # validate=False: no sync, the bad entry is skipped (never read), the rest is right
        idx = torch.tensor([1, 2, 99, 3], device=device)
        out = metalcore.embedding_bag(idx, w, offs, mode="sum", validate=False)
        ref = F.embedding_bag(torch.tensor([1, 2, 3]), w.double().cpu(), torch.tensor([0, 2]), mode="sum")
        assert rel_err(out, ref) <= TOL[torch.float32]


def test_bad_input(device):
    w = torch.randn(10, 8, device=device)
    idx = torch.tensor([1, 2, 3], device=device)
    offs = torch.tensor([0, 1], device=device)
    f = metalcore.embedding_bag
    with pytest.raises(ValueError):
        f(idx, w, offs, mode="median")
    with pytest.raises(ValueError):
        f(idx, w, offs, max_norm=1.0)
    with pytest.raises(ValueError):
        f(idx, w, offs, sparse=True)
    with pytest.raises(ValueError):
        f(idx, w, offs, scale_grad_by_freq=True)
    with pytest.raises(ValueError):
        f(idx, w, offs, mode="mean", per_sample_weights=torch.ones(3, device=device))
    with pytest.raises(ValueError):
        f(idx, w, offs, mode="sum", per_sample_weights=torch.ones(4, device=device))
    with pytest.raises(TypeError):
        f(idx, w, offs, mode="sum", per_sample_weights=torch.ones(3, device=device, dtype=torch.float16))
    with pytest.raises(TypeError):
        f(idx.float(), w, offs)
    with pytest.raises(TypeError):
        f(idx, w.int(), offs)
    with pytest.raises(ValueError):
        f(idx, w, None)
    with pytest.raises(ValueError):
        f(idx.view(3, 1), w, offs)
    with pytest.raises(ValueError):
        f(idx, w, offs, padding_idx=10)
    with pytest.raises(ValueError):
        f(idx, w[0], offs)
    with pytest.raises(ValueError):
        metalcore.MetalEmbeddingBag(10, 4, sparse=True)
    with pytest.raises(ValueError):
        metalcore.MetalEmbeddingBag(10, 4, max_norm=2.0)
    if device == "cuda":
        with pytest.raises(ValueError):
            f(idx.cpu(), w, offs)
        with pytest.raises(TypeError):
            f(idx, w.double(), offs)


def test_compile_fullgraph(device):
    w = torch.randn(12, 8, device=device, requires_grad=True)
    idx, offs, _ = _bags(4, 5, 12, device)
    fn = torch.compile(lambda i, ww, o: metalcore.embedding_bag(i, ww, o, mode="mean"), fullgraph=True,
                       backend="aot_eager")
    out = fn(idx, w, offs)
    wr = w.detach().double().cpu().requires_grad_(True)
    ref = F.embedding_bag(idx.cpu(), wr, offs.cpu(), mode="mean")
    assert rel_err(out, ref) <= TOL[torch.float32]
    out.sum().backward()
    ref.sum().backward()
    assert rel_err(w.grad, wr.grad) <= TOL[torch.float32]
