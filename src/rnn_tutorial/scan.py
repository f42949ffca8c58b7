"""Linear recurrences and their parallel scans (chapter "Beyond classic RNNs").

Introduced in ``chapters/18_beyond_rnns.ipynb``. The recurrence of this module is

    h_t = lam_t * h_{t-1} + beta_t,        t = 1, ..., T,

element-wise, batch-major: ``lam`` and ``beta`` are ``(B, T, H)``, ``h0`` is ``(B, H)`` and the
result ``h`` is ``(B, T, H)`` (``book/notation.md``; the chapter writes ``lam_t`` as
lambda_t and ``beta_t`` as beta_t, because the book's ``a`` always names a pre-activation).
Because ``h_t`` is linear in ``h_{t-1}``, the pairs ``(lam_t, beta_t)`` compose with an
associative operator and the whole sequence can be computed by a parallel scan:

- :func:`linear_recurrence_loop`: the sequential reference, one step at a time.
- :func:`hillis_steele_scan`: the log-step scan of Hillis and Steele (1986), ``ceil(log2 T)``
  rounds of ``O(T)`` work each, ``O(T log T)`` in all.
- :func:`blelloch_scan`: Blelloch's (1990) work-efficient scan, an up-sweep and a down-sweep of
  ``log2 T`` rounds each, ``O(T)`` work in all.
- :func:`log_space_scan`: Heinsen's (2023) scan in log space for positive ``lam``, ``beta``
  and ``h0``, with ``cumsum`` and ``logcumsumexp`` (numerically stable for long sequences).

Layers built on them: :class:`MinGRU` and :class:`MinLSTM` (Feng et al., 2024),
:class:`SelectiveScan` (a small Mamba-style selective state-space layer, Gu and Dao, 2023) and
:class:`TinyCausalTransformer` (a pre-norm causal Transformer with a key-value cache for
decoding one token at a time), used to compare the three families.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "MinGRU",
    "MinLSTM",
    "SCAN_MODES",
    "SelectiveScan",
    "TinyCausalTransformer",
    "blelloch_scan",
    "hillis_steele_scan",
    "linear_recurrence",
    "linear_recurrence_loop",
    "log_space_scan",
    "positive_activation",
    "log_positive_activation",
]

SCAN_MODES = ("sequential", "hillis_steele", "blelloch", "log")


def _check(lam: torch.Tensor, beta: torch.Tensor, h0: torch.Tensor | None) -> None:
    if not isinstance(lam, torch.Tensor) or not isinstance(beta, torch.Tensor):
        raise ValueError("lam and beta must be torch tensors")
    if lam.ndim != 3:
        raise ValueError(f"lam must have shape (B, T, H), got {tuple(lam.shape)}")
    if beta.shape != lam.shape:
        raise ValueError(
            f"lam and beta must have the same shape (B, T, H), got {tuple(lam.shape)} "
            f"and {tuple(beta.shape)}"
        )
    if lam.shape[1] < 1:
        raise ValueError("the sequence must have at least one step (T >= 1)")
    if h0 is not None:
        B, _, H = lam.shape
        if not isinstance(h0, torch.Tensor) or tuple(h0.shape) != (B, H):
            got = tuple(h0.shape) if isinstance(h0, torch.Tensor) else type(h0)
            raise ValueError(f"h0 must have shape (B, H) = {(B, H)}, got {got}")


def linear_recurrence_loop(
    lam: torch.Tensor, beta: torch.Tensor, h0: torch.Tensor | None = None
) -> torch.Tensor:
    """The sequential reference: ``h_t = lam_t * h_{t-1} + beta_t`` for ``t = 1..T``.

    ``h0`` defaults to zeros. Returns all states, ``(B, T, H)``.
    """
    _check(lam, beta, h0)
    h = torch.zeros_like(beta[:, 0]) if h0 is None else h0
    states = []
    for t in range(lam.shape[1]):
        h = lam[:, t] * h + beta[:, t]
        states.append(h)
    return torch.stack(states, dim=1)


def _fold_h0(lam: torch.Tensor, beta: torch.Tensor, h0: torch.Tensor | None) -> torch.Tensor:
    """Fold ``h0`` into the first input term: ``beta_1 + lam_1 * h0`` (then start from zero)."""
    if h0 is None:
        return beta
    return torch.cat([(beta[:, 0] + lam[:, 0] * h0).unsqueeze(1), beta[:, 1:]], dim=1)


def hillis_steele_scan(
    lam: torch.Tensor, beta: torch.Tensor, h0: torch.Tensor | None = None
) -> torch.Tensor:
    """All states by the log-step (Hillis-Steele) inclusive scan.

    Round ``d = 1, 2, 4, ...`` combines every element ``t >= d`` with the one ``d`` steps
    earlier, ``(lam, beta)[t] <- (lam[t-d] * lam[t], lam[t] * beta[t-d] + beta[t])``; after
    ``ceil(log2 T)`` rounds element ``t`` holds the composition of steps ``1..t``, and its
    ``beta`` part is ``h_t``. Every round is one vectorised operation over ``T``.
    """
    _check(lam, beta, h0)
    beta = _fold_h0(lam, beta, h0)
    T = lam.shape[1]
    d = 1
    while d < T:
        lam_prev, beta_prev = lam[:, :-d], beta[:, :-d]
        lam_cur, beta_cur = lam[:, d:], beta[:, d:]
        beta = torch.cat([beta[:, :d], lam_cur * beta_prev + beta_cur], dim=1)
        lam = torch.cat([lam[:, :d], lam_cur * lam_prev], dim=1)
        d *= 2
    return beta


def blelloch_scan(
    lam: torch.Tensor, beta: torch.Tensor, h0: torch.Tensor | None = None
) -> torch.Tensor:
    """All states by Blelloch's work-efficient scan (up-sweep, then down-sweep).

    The sequence is padded to a power of two ``n`` with the identity element ``(1, 0)``. The
    up-sweep builds a balanced tree of partial compositions in ``log2 n`` rounds (``n - 1``
    combinations in all); the down-sweep pushes the prefix of everything to the left of each
    subtree back down (another ``n - 1``), which gives the exclusive scan; one last combination
    with each element gives the inclusive scan, ``h_t``. Work ``O(n)``, depth ``O(log n)``.
    """
    _check(lam, beta, h0)
    beta = _fold_h0(lam, beta, h0)
    B, T, H = lam.shape
    n = 1 << (T - 1).bit_length()
    pad = n - T
    if pad:
        lam_p = torch.cat([lam, lam.new_ones(B, pad, H)], dim=1)
        beta_p = torch.cat([beta, beta.new_zeros(B, pad, H)], dim=1)
    else:
        lam_p, beta_p = lam, beta
    # up-sweep: level by level, node (right) := left (earlier) composed with right (later)
    tree_lam, tree_beta = [lam_p], [beta_p]
    cur_lam, cur_beta = lam_p, beta_p
    while cur_lam.shape[1] > 1:
        left_lam, right_lam = cur_lam[:, 0::2], cur_lam[:, 1::2]
        left_beta, right_beta = cur_beta[:, 0::2], cur_beta[:, 1::2]
        cur_lam = left_lam * right_lam
        cur_beta = right_lam * left_beta + right_beta
        tree_lam.append(cur_lam)
        tree_beta.append(cur_beta)
    # down-sweep: the exclusive prefix of each node; the root's is the identity (1, 0)
    ex_lam, ex_beta = lam_p.new_ones(B, 1, H), beta_p.new_zeros(B, 1, H)
    for level in range(len(tree_lam) - 2, -1, -1):
        left_lam, left_beta = tree_lam[level][:, 0::2], tree_beta[level][:, 0::2]
        # left child: the parent's prefix; right child: the parent's prefix, then the left child
        right_ex_lam = ex_lam * left_lam
        right_ex_beta = left_lam * ex_beta + left_beta
        ex_lam = torch.stack([ex_lam, right_ex_lam], dim=2).reshape(B, -1, H)
        ex_beta = torch.stack([ex_beta, right_ex_beta], dim=2).reshape(B, -1, H)
    # inclusive: the exclusive prefix, then the element itself (its beta part is h_t)
    h = lam_p * ex_beta + beta_p
    return h[:, :T]


def log_space_scan(
    log_lam: torch.Tensor, log_beta: torch.Tensor, log_h0: torch.Tensor | None = None
) -> torch.Tensor:
    """All states, for positive ``lam``, ``beta`` and ``h0``, computed in log space (Heinsen).

    With ``lam*_t = sum_{s<=t} log lam_s`` (a cumulative sum),
    ``log h_t = lam*_t + logsumexp(log h0, log beta_1 - lam*_1, ..., log beta_t - lam*_t)``,
    a cumulative log-sum-exp. No product of many factors below 1 is ever formed, so nothing
    underflows. Takes the logarithms and returns ``h`` (not its log), ``(B, T, H)``.
    """
    _check(log_lam, log_beta, log_h0)
    lam_star = torch.cumsum(log_lam, dim=1)
    terms = log_beta - lam_star
    if log_h0 is not None:
        terms = torch.cat([log_h0.unsqueeze(1), terms], dim=1)
        log_h = lam_star + torch.logcumsumexp(terms, dim=1)[:, 1:]
    else:
        log_h = lam_star + torch.logcumsumexp(terms, dim=1)
    return torch.exp(log_h)


def linear_recurrence(
    lam: torch.Tensor,
    beta: torch.Tensor,
    h0: torch.Tensor | None = None,
    mode: str = "hillis_steele",
) -> torch.Tensor:
    """``h_t = lam_t * h_{t-1} + beta_t`` by the algorithm named by ``mode`` (one of
    :data:`SCAN_MODES`; ``"log"`` needs positive ``lam``, ``beta`` and ``h0``)."""
    if mode == "sequential":
        return linear_recurrence_loop(lam, beta, h0)
    if mode == "hillis_steele":
        return hillis_steele_scan(lam, beta, h0)
    if mode == "blelloch":
        return blelloch_scan(lam, beta, h0)
    if mode == "log":
        return log_space_scan(
            torch.log(lam), torch.log(beta), None if h0 is None else torch.log(h0)
        )
    raise ValueError(f"mode must be one of {SCAN_MODES}, got {mode!r}")


def positive_activation(a: torch.Tensor) -> torch.Tensor:
    """``a + 1/2`` for ``a >= 0`` and ``sigmoid(a)`` below: positive, continuous, slope 1
    at large ``a`` (Feng et al.'s ``g``, which keeps minGRU's states positive for the log-space
    scan)."""
    return torch.where(a >= 0, a + 0.5, torch.sigmoid(a))


def log_positive_activation(a: torch.Tensor) -> torch.Tensor:
    """``log(positive_activation(a))`` without forming a number that underflows."""
    return torch.where(a >= 0, torch.log(F.relu(a) + 0.5), F.logsigmoid(a))


def _check_x(x: torch.Tensor, D: int) -> None:
    if not isinstance(x, torch.Tensor) or x.ndim != 3 or x.shape[2] != D:
        got = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x)
        raise ValueError(f"x must have shape (B, T, D) with D = {D}, got {got}")


class _LinearRecurrentLayer(nn.Module):
    """What minGRU and minLSTM share: coefficients from the inputs, then a scan.

    A subclass defines ``coefficients(x) -> (log lam, log beta)``, each ``(B, T, H)``.
    """

    D: int

    def coefficients(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError

    def forward(
        self, x: torch.Tensor, h0: torch.Tensor | None = None, mode: str = "log"
    ) -> torch.Tensor:
        _check_x(x, self.D)
        log_lam, log_beta = self.coefficients(x)
        if mode == "log":
            return log_space_scan(log_lam, log_beta, None if h0 is None else torch.log(h0))
        return linear_recurrence(torch.exp(log_lam), torch.exp(log_beta), h0, mode)


class MinGRU(_LinearRecurrentLayer):
    """minGRU (Feng et al., 2024) in the book's GRU convention (``z`` keeps the old state).

    ``[a^z_t, a^n_t] = x_t W_x + b_x``, ``z_t = sigmoid(a^z_t)``, ``n_t = g(a^n_t)`` with the
    positive activation ``g`` (:func:`positive_activation`), and
    ``h_t = z_t * h_{t-1} + (1 - z_t) * n_t``: the gate and the candidate do not depend on
    ``h_{t-1}``, so the recurrence is linear in ``h`` with ``lam_t = z_t`` and
    ``beta_t = (1 - z_t) * n_t``. ``forward`` computes it with the scan named by ``mode``;
    ``step`` advances one step, as in decoding. ``h0`` must be positive for ``mode="log"``.
    """

    def __init__(self, D: int, H: int) -> None:
        super().__init__()
        self.D, self.H = D, H
        self.linear = nn.Linear(D, 2 * H)  # W_x (as weight^T) and b_x, blocks z, n

    def coefficients(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(log lam, log beta)``, each ``(B, T, H)``, computed in log space."""
        a_z, a_n = self.linear(x).chunk(2, dim=-1)
        log_z = F.logsigmoid(a_z)
        log_one_minus_z = F.logsigmoid(-a_z)  # log(1 - sigmoid(a)) = log sigmoid(-a)
        return log_z, log_one_minus_z + log_positive_activation(a_n)

    def step(self, x_t: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        """One step: ``x_t`` ``(B, D)``, ``h`` ``(B, H)`` -> the next state ``(B, H)``."""
        a_z, a_n = self.linear(x_t).chunk(2, dim=-1)
        z = torch.sigmoid(a_z)
        return z * h + (1 - z) * positive_activation(a_n)


class MinLSTM(_LinearRecurrentLayer):
    """minLSTM (Feng et al., 2024): forget and input gates from ``x_t`` only, normalised.

    ``[a^f_t, a^i_t, a^g_t] = x_t W_x + b_x``; ``f_t, i_t = sigmoid(.)``,
    ``f'_t = f_t / (f_t + i_t)``, ``i'_t = i_t / (f_t + i_t)``, and
    ``h_t = f'_t * h_{t-1} + i'_t * g(a^g_t)`` with the positive activation ``g``. The
    normalisation makes the state a convex mixture, so it does not grow with ``T``.
    """

    def __init__(self, D: int, H: int) -> None:
        super().__init__()
        self.D, self.H = D, H
        self.linear = nn.Linear(D, 3 * H)  # blocks f, i, g

    def coefficients(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        a_f, a_i, a_g = self.linear(x).chunk(3, dim=-1)
        diff = F.logsigmoid(a_i) - F.logsigmoid(a_f)  # log i - log f
        log_f = F.logsigmoid(-diff)  # log f / (f + i)
        log_i = F.logsigmoid(diff)  # log i / (f + i)
        return log_f, log_i + log_positive_activation(a_g)

    def step(self, x_t: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        a_f, a_i, a_g = self.linear(x_t).chunk(3, dim=-1)
        f, i = torch.sigmoid(a_f), torch.sigmoid(a_i)
        return (f * h + i * positive_activation(a_g)) / (f + i)


class SelectiveScan(nn.Module):
    """A small selective state-space layer (the S6 layer of Mamba, Gu and Dao 2023).

    Each of the ``D`` channels has a state of ``N`` numbers, ``s_t`` ``(B, D, N)``:

    - step sizes ``Delta_t = softplus(x_t W_Delta + b_Delta)`` ``(B, D)``,
    - input and output vectors ``p_t = x_t W_p`` and ``q_t = x_t W_q`` ``(B, N)``,
    - a fixed diagonal ``A = -exp(A_log)`` ``(D, N)``, negative, so ``exp(Delta A)`` is in (0, 1),
    - ``s_t = exp(Delta_t A) * s_{t-1} + Delta_t x_t p_t`` (zero-order hold for ``A``, Euler
      for the input, as in Mamba's reference code), and ``y_t = s_t q_t + d * x_t``.

    With ``selective=False``, ``Delta``, ``p`` and ``q`` are learned constants, independent of
    ``x_t``: a linear time-invariant (S4D-like) layer, the ablation that shows what
    "selective" adds. ``mode`` is ``"sequential"`` (the loop) or a parallel scan over the
    flattened ``D * N`` states (``"hillis_steele"`` or ``"blelloch"``), which materialises
    ``(B, T, D, N)`` tensors, as Mamba's fused kernel avoids.
    """

    def __init__(self, D: int, N: int, selective: bool = True) -> None:
        super().__init__()
        self.D, self.N, self.selective = D, N, selective
        self.A_log = nn.Parameter(torch.log(torch.arange(1, N + 1).float()).repeat(D, 1))
        self.d = nn.Parameter(torch.ones(D))
        if selective:
            self.delta = nn.Linear(D, D)
            self.p = nn.Linear(D, N, bias=False)
            self.q = nn.Linear(D, N, bias=False)
        else:
            self.delta_bias = nn.Parameter(torch.zeros(D))
            self.p_const = nn.Parameter(torch.randn(N) / math.sqrt(N))
            self.q_const = nn.Parameter(torch.randn(N) / math.sqrt(N))
        with torch.no_grad():  # initial step sizes spread over [0.001, 0.1], as in Mamba
            dt = torch.exp(torch.linspace(math.log(1e-3), math.log(1e-1), D))
            bias = dt + torch.log(-torch.expm1(-dt))  # inverse of softplus
            (self.delta.bias if selective else self.delta_bias).copy_(bias)

    def coefficients(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``lam`` and ``beta`` ``(B, T, D, N)`` and the output vectors ``q`` ``(B, T, N)``."""
        B, T, _ = x.shape
        if self.selective:
            delta = F.softplus(self.delta(x))
            p, q = self.p(x), self.q(x)
        else:
            delta = F.softplus(self.delta_bias).expand(B, T, self.D)
            p = self.p_const.expand(B, T, self.N)
            q = self.q_const.expand(B, T, self.N)
        A = -torch.exp(self.A_log)
        lam = torch.exp(delta.unsqueeze(-1) * A)
        beta = (delta * x).unsqueeze(-1) * p.unsqueeze(2)
        return lam, beta, q

    def forward(self, x: torch.Tensor, mode: str = "hillis_steele") -> torch.Tensor:
        _check_x(x, self.D)
        if mode not in ("sequential", "hillis_steele", "blelloch"):
            raise ValueError(
                f"mode must be 'sequential', 'hillis_steele' or 'blelloch', got {mode!r}"
            )
        B, T, _ = x.shape
        lam, beta, q = self.coefficients(x)
        if mode == "sequential":
            s = x.new_zeros(B, self.D, self.N)
            ys = []
            for t in range(T):
                s = lam[:, t] * s + beta[:, t]
                ys.append((s * q[:, t].unsqueeze(1)).sum(-1))
            y = torch.stack(ys, dim=1)
        else:
            flat = (B, T, self.D * self.N)
            s = linear_recurrence(lam.reshape(flat), beta.reshape(flat), None, mode)
            y = (s.reshape(B, T, self.D, self.N) * q.unsqueeze(2)).sum(-1)
        return y + self.d * x


class TinyCausalTransformer(nn.Module):
    """A small pre-norm causal Transformer over ``(B, T, D)`` inputs, for comparisons.

    ``n_layers`` blocks of multi-head causal self-attention and a two-layer MLP (width
    ``4 * d_model``), each with a residual connection and layer norm before it; sinusoidal
    positions, so any ``T`` works. ``forward`` processes a whole sequence (training);
    ``decode_step`` processes one new step given the key-value cache of the earlier ones, as
    in generation, and returns the output and the grown cache.
    """

    def __init__(self, D: int, d_model: int, n_heads: int, n_layers: int) -> None:
        super().__init__()
        if d_model % n_heads:
            raise ValueError(f"d_model ({d_model}) must be divisible by n_heads ({n_heads})")
        self.D, self.d_model, self.n_heads = D, d_model, n_heads
        self.inp = nn.Linear(D, d_model)
        self.blocks = nn.ModuleList()
        for _ in range(n_layers):
            self.blocks.append(
                nn.ModuleDict(
                    {
                        "ln1": nn.LayerNorm(d_model),
                        "qkv": nn.Linear(d_model, 3 * d_model),
                        "proj": nn.Linear(d_model, d_model),
                        "ln2": nn.LayerNorm(d_model),
                        "mlp": nn.Sequential(
                            nn.Linear(d_model, 4 * d_model),
                            nn.GELU(),
                            nn.Linear(4 * d_model, d_model),
                        ),
                    }
                )
            )
        self.ln_out = nn.LayerNorm(d_model)

    def _positions(self, start: int, T: int, like: torch.Tensor) -> torch.Tensor:
        pos = torch.arange(start, start + T, device=like.device, dtype=like.dtype)
        i = torch.arange(0, self.d_model, 2, device=like.device, dtype=like.dtype)
        angle = pos[:, None] / torch.pow(10_000.0, i / self.d_model)[None, :]
        pe = torch.zeros(T, self.d_model, device=like.device, dtype=like.dtype)
        pe[:, 0::2], pe[:, 1::2] = torch.sin(angle), torch.cos(angle)
        return pe

    def _heads(self, t: torch.Tensor) -> torch.Tensor:
        B, T, _ = t.shape
        return t.reshape(B, T, self.n_heads, -1).transpose(1, 2)  # (B, heads, T, d_head)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_x(x, self.D)
        B, T, _ = x.shape
        z = self.inp(x) + self._positions(0, T, x)
        for blk in self.blocks:
            q, k, v = blk["qkv"](blk["ln1"](z)).chunk(3, dim=-1)
            att = F.scaled_dot_product_attention(
                self._heads(q), self._heads(k), self._heads(v), is_causal=True
            )
            z = z + blk["proj"](att.transpose(1, 2).reshape(B, T, self.d_model))
            z = z + blk["mlp"](blk["ln2"](z))
        return self.ln_out(z)

    def decode_step(
        self, x_t: torch.Tensor, cache: list[tuple[torch.Tensor, torch.Tensor]] | None
    ) -> tuple[torch.Tensor, list[tuple[torch.Tensor, torch.Tensor]]]:
        """One step ``x_t`` ``(B, D)`` after the cached ones; returns ``(B, d_model)`` and the
        cache, one ``(keys, values)`` pair of ``(B, heads, L + 1, d_head)`` per block."""
        if x_t.ndim != 2 or x_t.shape[1] != self.D:
            raise ValueError(f"x_t must have shape (B, D) with D = {self.D}, got {x_t.shape}")
        L = 0 if cache is None else cache[0][0].shape[2]
        z = (self.inp(x_t) + self._positions(L, 1, x_t)[0]).unsqueeze(1)
        new_cache = []
        for i, blk in enumerate(self.blocks):
            q, k, v = blk["qkv"](blk["ln1"](z)).chunk(3, dim=-1)
            q, k, v = self._heads(q), self._heads(k), self._heads(v)
            if cache is not None:
                k = torch.cat([cache[i][0], k], dim=2)
                v = torch.cat([cache[i][1], v], dim=2)
            new_cache.append((k, v))
            att = F.scaled_dot_product_attention(q, k, v)  # one query sees every key
            z = z + blk["proj"](att.transpose(1, 2).reshape(-1, 1, self.d_model))
            z = z + blk["mlp"](blk["ln2"](z))
        return self.ln_out(z)[:, 0], new_cache
