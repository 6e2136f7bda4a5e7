"""engine.market and engine.strategy re-export their public surface, lazily."""

import subprocess
import sys

import engine.market
import engine.strategy
from engine.market import csv_bars, indicators
from engine.strategy import backtest as bt
from engine.strategy import realtime, swing


def test_every_public_name_is_reexported() -> None:
    for package, modules in ((engine.market, (indicators, csv_bars)), (engine.strategy, (swing, realtime, bt))):
        for module in modules:
            for name in module.__all__:
                if module is bt and name in ("backtest", "add_arguments", "run"):  # the name is the module
                    continue
                assert getattr(package, name) is getattr(module, name), name


def test_importing_the_packages_loads_no_pandas() -> None:
    code = "import sys, engine.market, engine.strategy; print('pandas' in sys.modules, 'scipy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]
    assert engine.strategy.backtest is bt and callable(bt.backtest)
