"""The batched HDF5 backend (bayesmusr.inference.backend) writes exactly what emcee's own backend writes."""
import emcee
import h5py
import numpy as np

from bayesmusr.inference.backend import FLUSH_EVERY, BufferedHDFBackend


def _log_prob(x):
    return -0.5 * float(np.sum(x**2 / np.array([1.0, 4.0, 0.25])))


def _run(backend, steps, seed=3):
    rng = np.random.default_rng(seed)
    fresh = not backend.initialized or backend.iteration == 0
    sampler = emcee.EnsembleSampler(8, 3, _log_prob, backend=backend)
    if fresh:  # a resumed chain takes its random state from the file
        sampler.random_state = np.random.RandomState(seed).get_state()
    state = rng.normal(size=(8, 3)) if fresh else sampler.get_last_sample()
    for _ in sampler.sample(state, iterations=steps, store=True):
        assert sampler.iteration >= 1  # counted while steps are held, without opening the file
    return sampler


def _contents(path):
    b = emcee.backends.HDFBackend(str(path), name="mcmc", read_only=True)
    return b.get_chain(), b.get_log_prob(), b.accepted, b.iteration, b.random_state


def test_batched_backend_file_equals_emcees_own(tmp_path):
    n = 2 * FLUSH_EVERY + 37  # two batches written on the way, the rest when the chain is read
    plain = _run(emcee.backends.HDFBackend(str(tmp_path / "plain.h5"), name="mcmc"), n)
    batched = _run(BufferedHDFBackend(str(tmp_path / "batched.h5"), name="mcmc"), n)
    assert batched.iteration == n
    np.testing.assert_array_equal(batched.get_chain(), plain.get_chain())  # the read writes the held steps
    a, b = _contents(tmp_path / "plain.h5"), _contents(tmp_path / "batched.h5")
    for x, y in zip(a[:4], b[:4]):
        np.testing.assert_array_equal(x, y)
    assert a[4][0] == b[4][0] and np.array_equal(a[4][1], b[4][1]) and a[4][2:] == b[4][2:]


def test_held_steps_are_written_on_flush_and_a_resumed_chain_continues(tmp_path):
    path = tmp_path / "chain.h5"
    be = BufferedHDFBackend(str(path), name="mcmc")
    _run(be, 30)

    def written():
        with h5py.File(path, "r") as f:
            return int(f["mcmc"].attrs["iteration"])

    assert written() == 0 and be.iteration == 30  # held, not yet in the file
    be.flush()
    assert written() == 30
    resumed = _run(BufferedHDFBackend(str(path), name="mcmc"), 20)
    straight = _run(emcee.backends.HDFBackend(str(tmp_path / "straight.h5"), name="mcmc"), 50)
    np.testing.assert_array_equal(resumed.get_chain(), straight.get_chain())
