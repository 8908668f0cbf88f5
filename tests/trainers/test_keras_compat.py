"""The Keras compat module fails loudly, naming the tested range, when the private name it uses is gone."""

from __future__ import annotations

import keras
import pytest

from search_spaces._requires import IncompatibleVersionError
from tests._compat import missing_name
from trainers import _keras_compat


def test_the_installed_keras_has_every_private_name_used():
    _keras_compat.check_private_names()


def test_a_keras_without_symbolic_build_fails_loudly(monkeypatch):
    owner = next(c for c in keras.Model.__mro__ if "_symbolic_build" in vars(c))
    monkeypatch.delattr(owner, "_symbolic_build")  # what an upgrade that drops it looks like
    expected = missing_name("keras", _keras_compat.TESTED, "keras.Model._symbolic_build(data_batch)")
    with pytest.raises(IncompatibleVersionError, match=expected):
        _keras_compat.check_private_names()
