"""The learner side of the job without a learner: CPU reservations for local mode."""

import os

import pytest

from learning.job.learner import CpuReservation


def test_cpu_reservations_are_exclusive_while_held():
    if (os.cpu_count() or 1) < 2:
        pytest.skip("needs two CPUs")
    first, second = CpuReservation(1), CpuReservation(1)
    try:
        if first.cpus is None or second.cpus is None:
            pytest.skip("other jobs on this machine hold the CPUs")
        assert len(first.cpus) == 1 and not first.cpus & second.cpus
        held = first.cpus
        first.release()
        third = CpuReservation(1)
        assert third.cpus == held  # released CPUs are taken again
        third.release()
    finally:
        first.release()
        second.release()
