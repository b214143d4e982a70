from __future__ import annotations

from whatsapp_gateway.instance.tasks import restart_delay


def test_restarts_back_off_exponentially_up_to_the_cap() -> None:
    assert [restart_delay(n, 60) for n in range(1, 10)] == [0, 1, 2, 4, 8, 16, 32, 60, 60]
    assert restart_delay(30, 5) == 5
