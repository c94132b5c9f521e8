import pytest

from audio_unlearn.testing import make_dummy_corpus


@pytest.fixture(scope="session")
def dummy_manifest(tmp_path_factory):
    """10 speakers x 4 classes x 6 repeats of 1 s tone-sequence 'speech'."""
    root = tmp_path_factory.mktemp("dummy")
    return make_dummy_corpus(root, n_speakers=10, n_classes=4, per_class=6, seed=0)
