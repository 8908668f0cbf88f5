"""The compat modules' checks: an attribute a dependency's class sets, found in its methods' code."""

from __future__ import annotations

from search_spaces._requires import sets_attribute


class _Controller:
    def __init__(self) -> None:
        self._actor_cache = {}
        self._cleanups = [self._remove(x) for x in range(1)]  # used inside a comprehension too

    def _remove(self, x: int) -> int:
        return x


class _Renamed(_Controller):
    def __init__(self) -> None:
        self._cache_of_actors = {}


def test_an_attribute_the_class_s_own_methods_set_is_found_and_a_gone_one_is_not():
    assert sets_attribute(_Controller, "_actor_cache")
    assert sets_attribute(_Controller, "_remove")
    assert not sets_attribute(_Controller, "_staged_trials")
    # Only the class's own methods count: a subclass that renamed it does not set it.
    assert not sets_attribute(_Renamed, "_actor_cache")
