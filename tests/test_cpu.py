"""Tests for rnn_tutorial.cpu: CPU features detected, and the AVX2-only limit really applied."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from rnn_tutorial.cpu import (
    FEATURES,
    ISA_LIMIT_ENV,
    cpu_description,
    cpu_features,
    cpu_flags,
    isa_limits,
    onednn_isa,
    openblas_kernel,
    probe_bf16_lstm,
)

HAS_CPUINFO = os.path.exists("/proc/cpuinfo")


def run_child(code: str, env: dict[str, str]) -> str:
    done = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return done.stdout.strip()


def test_features_are_the_listed_extensions():
    features = cpu_features()
    assert list(features) == [name for _, name in FEATURES]
    flags = cpu_flags()
    for flag, name in FEATURES:
        assert features[name] == (flag in flags)


@pytest.mark.skipif(not HAS_CPUINFO, reason="no /proc/cpuinfo on this system")
def test_description_names_model_cores_and_every_extension():
    text = cpu_description()
    assert f", {os.cpu_count()} cores; " in text
    for name, has in cpu_features().items():
        assert f"{name} {'yes' if has else 'no'}" in text


def test_isa_limits_reads_only_the_two_variables(monkeypatch):
    for key in ISA_LIMIT_ENV:
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("UNRELATED", "1")
    assert isa_limits() == {}
    monkeypatch.setenv("OPENBLAS_CORETYPE", "Haswell")
    assert isa_limits() == {"OPENBLAS_CORETYPE": "Haswell"}


def test_onednn_limit_switches_its_instruction_set():
    # ONEDNN_MAX_CPU_ISA=AVX2 must make oneDNN report AVX2 (or older) on any x86 CPU.
    limited = onednn_isa(ISA_LIMIT_ENV)
    assert limited != "unknown"
    assert "512" not in limited and "AMX" not in limited, limited


def test_openblas_limit_switches_its_kernels():
    if openblas_kernel() is None:
        pytest.skip("NumPy does not use OpenBLAS here")
    code = "from rnn_tutorial.cpu import openblas_kernel; print(openblas_kernel())"
    assert run_child(code, {"OPENBLAS_CORETYPE": "Haswell"}) == "Haswell"


def test_bf16_probe_never_raises_and_fails_where_there_are_no_bf16_instructions():
    probe = probe_bf16_lstm()
    assert isinstance(probe.ok, bool) and probe.detail
    features = cpu_features()
    if HAS_CPUINFO and not (features["AVX512-BF16"] or features["AMX-BF16"]):
        assert not probe.ok, probe.detail


def test_bf16_probe_fails_under_the_avx2_limit():
    # The path the Performance chapter takes on an AVX2-only CPU, forced on any CPU.
    code = "from rnn_tutorial.cpu import probe_bf16_lstm; p = probe_bf16_lstm(); print(p.ok)"
    assert run_child(code, ISA_LIMIT_ENV) == "False"


def test_bf16_path_says_which_path_ran_and_why(monkeypatch):
    from rnn_tutorial.cpu import Probe, bf16_path

    what = "the input product"
    assert bf16_path(Probe(True, "ran"), "cuda", what).startswith("On this cuda device")
    assert "has bfloat16 instructions" in bf16_path(Probe(True, "ran"), "cpu", what)
    failed = Probe(False, "RuntimeError: could not create a primitive descriptor")
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")
    limited = bf16_path(failed, "cpu", what)
    assert "limited to AVX2" in limited and what in limited and "float32 only" in limited
    monkeypatch.delenv("ONEDNN_MAX_CPU_ISA")
    unlimited = bf16_path(failed, "cpu", what)
    assert "bfloat16 instructions" in unlimited and "limited" not in unlimited
