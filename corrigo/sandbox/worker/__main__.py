"""Start the worker: ``python -I -B FOLDER``, where FOLDER is this package.

The folder is run as a program, so its modules are loaded here as the package
``corrigo_worker`` (relative imports work; nothing outside the folder is needed), and
the folder itself is taken off ``sys.path`` so candidates cannot import its modules by
their bare names.
"""

import importlib.util
import os
import sys


def _load() -> None:
    here = os.path.dirname(os.path.abspath(__file__))
    if sys.path and os.path.abspath(sys.path[0]) == here:
        del sys.path[0]
    spec = importlib.util.spec_from_file_location(
        "corrigo_worker", os.path.join(here, "__init__.py"), submodule_search_locations=[here]
    )
    assert spec is not None and spec.loader is not None
    package = importlib.util.module_from_spec(spec)
    sys.modules["corrigo_worker"] = package
    spec.loader.exec_module(package)
    importlib.import_module("corrigo_worker.server").main()


if __name__ == "__main__":
    _load()
