import pytest
from sqlalchemy import exc

from storage.db import retry_transaction


class Deadlock(Exception):
    def __init__(self) -> None:
        super().__init__(1213, "Deadlock found when trying to get lock; try restarting transaction")


def aborted() -> exc.OperationalError:
    return exc.OperationalError("UPDATE ...", {}, Deadlock())


async def test_a_deadlocked_transaction_runs_again():
    calls = []

    class Store:
        @retry_transaction
        async def write(self) -> str:
            calls.append(1)
            if len(calls) < 3:
                raise aborted()
            return "committed"

    assert await Store().write() == "committed" and len(calls) == 3


async def test_other_errors_and_an_exhausted_budget_pass_through():
    calls = []

    class Store:
        @retry_transaction
        async def always(self) -> None:
            calls.append(1)
            raise aborted()

        @retry_transaction
        async def broken(self) -> None:
            raise exc.OperationalError("SELECT", {}, Exception(2003, "Can't connect"))

    with pytest.raises(exc.OperationalError):
        await Store().always()
    assert len(calls) == 5
    with pytest.raises(exc.OperationalError):
        await Store().broken()
