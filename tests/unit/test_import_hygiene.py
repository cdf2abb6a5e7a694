"""The engine and the config stay UI-free: importing them must not pull in Textual or Rich."""

import subprocess
import sys


def test_engine_config_demo_do_not_import_textual_or_rich():
    code = (
        "import importlib, pkgutil, sys\n"
        "import workbench.engine, workbench.config, workbench.demo\n"
        "names = []\n"
        "for pkg in (workbench.engine, workbench.config, workbench.demo):\n"
        "    for m in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + '.'):\n"
        "        importlib.import_module(m.name)\n"
        "        names.append(m.name)\n"
        "import workbench.headless, workbench.runtime\n"
        "bad = [m for m in ('textual', 'rich') if m in sys.modules]\n"
        "print(len(names), bad)\n"
        "sys.exit(1 if bad or len(names) < 20 else 0)\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr


def test_runtime_does_not_import_benchmark_or_screenshot_tooling():
    code = (
        "import sys\n"
        "import workbench.cli, workbench.runtime, workbench.headless, workbench.engine.engine\n"
        "bad = [m for m in sys.modules if m.startswith('workbench.devtools')]\n"
        "print(bad)\n"
        "sys.exit(1 if bad else 0)\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr
