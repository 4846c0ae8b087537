"""RoPE (apply_rotary_pos_emb) against a float64 Hugging Face-style reference, forward and
gradients, on every device and dtype; awkward shapes, both layouts, partial rotary, bad input."""
import pytest
import torch

import metalcore
from metalcore import _C
from helpers import EPS, rel_err

DTYPES = [torch.float32, torch.float16, torch.bfloat16, torch.float64]


def _skip_f64(device, dtype):
    if dtype == torch.float64 and device == "cuda":
        pytest.skip("float64 RoPE is CPU-only (documented); checked to raise in test_bad_input")


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat((-x[..., h:], x[..., :h]), dim=-1)


def ref_rope(x, cos, sin, unsqueeze_dim):
    """HF's formula with partial rotary, in float64 on the CPU. cos, sin: [B, S, R] or [S, R]."""
    x, cos, sin = x.double().cpu(), cos.double().cpu(), sin.double().cpu()
    if cos.dim() == 2:
        cos, sin = cos.unsqueeze(0), sin.unsqueeze(0)
    c, s = cos.unsqueeze(unsqueeze_dim), sin.unsqueeze(unsqueeze_dim)
    r = cos.shape[-1]
    xr, xp = x[..., :r], x[..., r:]
    return torch.cat((xr * c + rotate_half(xr) * s, xp), dim=-1)


# Output rounded once from an fp32 (fp64) computation of two products and a sum: within one
# unit roundoff of the dtype relative to the largest magnitude for 16-bit types (half an ulp from
# the final rounding, plus input-independent fp32 error far below it); fp32/fp64: a few ulp.
TOL = {torch.float32: 8 * EPS[torch.float32], torch.float64: 8 * EPS[torch.float64],
       torch.float16: 2 * EPS[torch.float16], torch.bfloat16: 2 * EPS[torch.bfloat16]}

# (B, Hq, Hk, S, D, R, cos_batched, unsqueeze_dim): vector path (D, R multiples of 8), scalar
# path (odd half-width, prime widths), partial rotary, both layouts, single token and head.
CASES = [
    (2, 4, 2, 5, 8, 8, True, 1),
    (2, 32, 8, 9, 128, 128, True, 1),
    (1, 3, 1, 7, 7, 4, False, 1),
    (2, 4, 2, 6, 16, 16, True, 2),
    (1, 2, 1, 3, 128, 64, False, 2),
    (1, 1, 1, 1, 2, 2, True, 1),
    (3, 5, 5, 11, 96, 32, True, 1),
    (2, 3, 1, 4, 10, 6, True, 2),
]


def _inputs(case, dtype, device, cos_dtype=None):
    b, hq, hk, s, d, r, batched, ud = case
    shape_q = (b, hq, s, d) if ud == 1 else (b, s, hq, d)
    shape_k = (b, hk, s, d) if ud == 1 else (b, s, hk, d)
    q = torch.randn(shape_q, dtype=torch.float64).to(dtype).to(device)
    k = torch.randn(shape_k, dtype=torch.float64).to(dtype).to(device)
    cs = (b, s, r) if batched else (s, r)
    ang = torch.rand(cs, dtype=torch.float64) * 6.3
    ct = cos_dtype or dtype
    return q, k, ang.cos().to(ct).to(device), ang.sin().to(ct).to(device)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", CASES)
def test_forward_backward(device, dtype, case):
    _skip_f64(device, dtype)
    ud = case[-1]
    q, k, cos, sin = _inputs(case, dtype, device)
    q.requires_grad_(True)
    k.requires_grad_(True)
    qe, ke = metalcore.apply_rotary_pos_emb(q, k, cos, sin, unsqueeze_dim=ud)
    assert qe.shape == q.shape and ke.shape == k.shape and qe.dtype == dtype
    qr, kr = ref_rope(q, cos, sin, ud), ref_rope(k, cos, sin, ud)
    assert rel_err(qe, qr) <= TOL[dtype]
    assert rel_err(ke, kr) <= TOL[dtype]
    gq, gk = torch.randn_like(qe), torch.randn_like(ke)
    torch.autograd.backward((qe, ke), (gq, gk))
    qd = q.detach().double().cpu().requires_grad_(True)
    kd = k.detach().double().cpu().requires_grad_(True)
    torch.autograd.backward((ref_rope(qd, cos, sin, ud), ref_rope(kd, cos, sin, ud)),
                            (gq.double().cpu(), gk.double().cpu()))
    assert rel_err(q.grad, qd.grad) <= TOL[dtype]
    assert rel_err(k.grad, kd.grad) <= TOL[dtype]


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize("case", [(2, 8, 2, 5, 64, 64, True, 1), (2, 6, 2, 7, 96, 64, True, 2)])
def test_float32_cos_sin(device, dtype, case):
    # fp32 cos/sin with 16-bit q, k (two 16-byte cos loads per 8 elements on CUDA); the second
    # case partial rotary in the (B, S, H, D) layout
    ud = case[-1]
    q, k, cos, sin = _inputs(case, dtype, device, cos_dtype=torch.float32)
    qe, ke = metalcore.apply_rotary_pos_emb(q, k, cos, sin, unsqueeze_dim=ud)
    assert qe.dtype == dtype
    assert rel_err(qe, ref_rope(q, cos, sin, ud)) <= TOL[dtype]
    assert rel_err(ke, ref_rope(k, cos, sin, ud)) <= TOL[dtype]


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("inverse", [False, True])
def test_in_place(device, dtype, inverse):
    # outputs over the inputs (the extension allows it when the strides match): both halves of a
    # pair are read before either is written, and the pass-through dims keep their values; a
    # contiguous and a (B, S, H, D) view, grouped heads, vector and scalar paths.
    for (d, r, bshd) in [(128, 96, False), (128, 64, True), (10, 6, False)]:
        q = torch.randn(2, 5, 6, d, device=device).to(dtype)
        k = torch.randn(2, 6, 2, d, device=device).to(dtype).transpose(1, 2) if bshd else \
            torch.randn(2, 2, 6, d, device=device).to(dtype)
        if bshd:
            q = q.transpose(1, 2).contiguous().transpose(1, 2)
        ang = torch.rand(2, 6, r, device=device) * 6
        cos, sin = ang.cos().to(dtype), ang.sin().to(dtype)
        s_ref = sin.double().cpu()
        if inverse:  # the transpose: halves of sin swapped and negated
            h = r // 2
            s_ref = -torch.cat((s_ref[..., h:], s_ref[..., :h]), -1)
        qr, kr = ref_rope(q, cos, s_ref, 1), ref_rope(k, cos, s_ref, 1)
        q0, k0 = q.clone(), k.clone()
        _C.rope(q, k, cos, sin, q, k, inverse)
        assert rel_err(q, qr) <= TOL[dtype] and rel_err(k, kr) <= TOL[dtype]
        assert torch.equal(q[..., r:], q0[..., r:]) and torch.equal(k[..., r:], k0[..., r:])


def test_large_offsets_cuda(device):
    # Element offsets past 2^31 (a batch stride of 2^31 elements): the CUDA kernel switches to 64-bit
    # indexing. 4 GiB of bf16, only 2 x 128 elements of it used; out of place and in place.
    if device != "cuda":
        pytest.skip("CUDA index width")
    if torch.cuda.mem_get_info()[0] < (6 << 30):
        pytest.skip("needs 6 GiB of free GPU memory")
    d, big = 128, 1 << 31
    buf = torch.empty(big + d, device=device, dtype=torch.bfloat16)
    q = buf.as_strided((2, 1, 1, d), (big, d, d, 1))
    q.copy_(torch.randn(2, 1, 1, d, device=device))
    k = torch.randn(2, 1, 1, d, device=device).to(torch.bfloat16)
    ang = torch.rand(2, 1, 64, device=device) * 6
    cos, sin = ang.cos().to(torch.bfloat16), ang.sin().to(torch.bfloat16)
    qr, kr = ref_rope(q.clone(), cos, sin, 1), ref_rope(k, cos, sin, 1)
    qo, ko = torch.full_like(k, float("nan")), torch.full_like(k, float("nan"))
    _C.rope(q, k, cos, sin, qo, ko, False)
    assert rel_err(qo, qr) <= TOL[torch.bfloat16] and rel_err(ko, kr) <= TOL[torch.bfloat16]
    q0 = q.clone()
    _C.rope(q, k, cos, sin, q, k, False)
    assert rel_err(q, qr) <= TOL[torch.bfloat16] and rel_err(k, kr) <= TOL[torch.bfloat16]
    assert torch.equal(q[..., 64:], q0[..., 64:])
    del buf, q


def test_non_contiguous(device):
    # q a slice of a wider buffer (rows strided), k a permuted copy (non-dense strides), cos an
    # expanded (stride-0 batch) view: every stride honoured.
    big = torch.randn(2, 6, 5, 40, device=device)
    q = big[:, 1:5, :, 4:36]
    k = torch.randn(2, 5, 3, 32, device=device).transpose(1, 2)[:, :, :, :]
    ang = torch.rand(1, 5, 32, device=device) * 6
    cos, sin = ang.cos().expand(2, 5, 32), ang.sin().expand(2, 5, 32)
    qe, ke = metalcore.apply_rotary_pos_emb(q, k, cos, sin)
    assert rel_err(qe, ref_rope(q, cos, sin, 1)) <= TOL[torch.float32]
    assert rel_err(ke, ref_rope(k, cos, sin, 1)) <= TOL[torch.float32]
    # last dim not contiguous: copied, still right
    qt = torch.randn(2, 4, 32, 5, device=device).transpose(2, 3)
    qe, _ = metalcore.apply_rotary_pos_emb(qt, k, cos, sin)
    assert rel_err(qe, ref_rope(qt, cos, sin, 1)) <= TOL[torch.float32]


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("inverse", [False, True])
def test_every_element_written(device, dtype, inverse):
    # Poisoned outputs, strided output views, partial rotary with a pass-through part, through
    # the extension directly (the Python layer allocates fresh outputs).
    for (d, r) in [(128, 96), (10, 6)]:
        q = torch.randn(2, 3, 4, d, device=device).to(dtype)
        k = torch.randn(2, 1, 4, d, device=device).to(dtype)
        ang = torch.rand(2, 4, r, device=device) * 6
        cos, sin = ang.cos().to(dtype), ang.sin().to(dtype)
        qbuf = torch.full((2, 4, 3, d + 8), float("nan"), device=device, dtype=dtype)
        qo = qbuf[..., :d].transpose(1, 2)
        ko = torch.full_like(k, float("nan"))
        _C.rope(q, k, cos, sin, qo, ko, inverse)
        assert not torch.isnan(qbuf[..., :d]).any() and torch.isnan(qbuf[..., d:]).all()
        assert not torch.isnan(ko).any()
        sgn = -1.0 if inverse else 1.0
        s_ref = sin.double().cpu()
        if inverse:  # the transpose: halves of sin swapped and negated
            h = r // 2
            s_ref = torch.cat((s_ref[..., h:], s_ref[..., :h]), -1)
        assert rel_err(qo, ref_rope(q, cos, sgn * s_ref, 1)) <= TOL[dtype]
        assert rel_err(ko, ref_rope(k, cos, sgn * s_ref, 1)) <= TOL[dtype]


def test_empty(device):
    for (b, s) in [(0, 4), (2, 0)]:
        q = torch.randn(b, 4, s, 8, device=device, requires_grad=True)
        k = torch.randn(b, 2, s, 8, device=device, requires_grad=True)
        cos = torch.randn(b, s, 8, device=device)
        qe, ke = metalcore.apply_rotary_pos_emb(q, k, cos, cos)
        assert qe.shape == q.shape and ke.shape == k.shape
        (qe.sum() + ke.sum()).backward()
        assert q.grad.shape == q.shape
    q = torch.randn(1, 0, 3, 8, device=device)  # no query heads
    k = torch.randn(1, 2, 3, 8, device=device)
    cos = torch.rand(3, 8, device=device)
    qe, ke = metalcore.apply_rotary_pos_emb(q, k, cos, cos)
    assert rel_err(ke, ref_rope(k, cos, cos, 1)) <= TOL[torch.float32]


def test_cos_sin_gradients(device):
    # cos/sin requiring grad take the torch path: their gradients must be right, not dropped.
    q, k, cos, sin = _inputs((2, 4, 2, 5, 16, 8, True, 1), torch.float32, device)
    cos.requires_grad_(True)
    sin.requires_grad_(True)
    qe, ke = metalcore.apply_rotary_pos_emb(q, k, cos, sin, position_ids=torch.arange(5))
    gq, gk = torch.randn_like(qe), torch.randn_like(ke)
    torch.autograd.backward((qe, ke), (gq, gk))
    cd = cos.detach().double().cpu().requires_grad_(True)
    sd = sin.detach().double().cpu().requires_grad_(True)
    torch.autograd.backward((ref_rope(q, cd, sd, 1), ref_rope(k, cd, sd, 1)), (gq.double().cpu(), gk.double().cpu()))
    # sums over heads of products: a few fp32 roundings per term
    assert rel_err(cos.grad, cd.grad) <= 1e-5
    assert rel_err(sin.grad, sd.grad) <= 1e-5


def test_compile_fullgraph(device):
    q, k, cos, sin = _inputs((1, 2, 1, 3, 8, 8, True, 1), torch.float32, device)
    q.requires_grad_(True)
    f = torch.compile(lambda a, b, c, s: metalcore.apply_rotary_pos_emb(a, b, c, s), fullgraph=True, backend="aot_eager")
    qe, ke = f(q, k, cos, sin)
    assert rel_err(qe, ref_rope(q, cos, sin, 1)) <= TOL[torch.float32]
    qe.sum().backward()
    qd = q.detach().double().cpu().requires_grad_(True)
    ref_rope(qd, cos, sin, 1).sum().backward()
    assert rel_err(q.grad, qd.grad) <= TOL[torch.float32]


def test_bad_input(device):
    q = torch.randn(2, 4, 5, 8, device=device)
    k = torch.randn(2, 2, 5, 8, device=device)
    cos = torch.randn(2, 5, 8, device=device)
    f = metalcore.apply_rotary_pos_emb
    with pytest.raises(ValueError):
        f(q, k, cos, cos, unsqueeze_dim=3)
    with pytest.raises(ValueError):
        f(q, k[:, :, :4], cos, cos)  # sequence mismatch
    with pytest.raises(ValueError):
        f(q, k, cos[:, :4], cos[:, :4])
    with pytest.raises(ValueError):
        f(q, k, cos[..., :5], cos[..., :5])  # odd rotary dim
    with pytest.raises(ValueError):
        f(q, k, torch.randn(2, 5, 10, device=device), torch.randn(2, 5, 10, device=device))  # R > D
    with pytest.raises(ValueError):
        f(q, k, torch.randn(3, 5, 8, device=device), torch.randn(3, 5, 8, device=device))  # batch
    with pytest.raises(ValueError):
        f(q[0], k[0], cos, cos)
    with pytest.raises(TypeError):
        f(q, k.half(), cos, cos)
    with pytest.raises(TypeError):
        f(q.int(), k.int(), cos, cos)
    with pytest.raises(TypeError):
        f(q, k, cos, "sin")
    if device == "cuda":
        with pytest.raises(ValueError):
            f(q, k, cos.cpu(), cos.cpu())
        with pytest.raises(TypeError):
            f(q.double(), k.double(), cos.double(), cos.double())
