"""Shim: the reference model lives in csad/pyref/csad_ref.py (one source, also embedded in the
csad binary for 'csad bench'); this runs it in this module's namespace, so `import csad_ref` from
testdata/ keeps working unchanged."""
import os as _os
_src = _os.path.join(_os.path.dirname(_os.path.abspath(__file__)), "..", "csad", "pyref", "csad_ref.py")
with open(_src) as _f:
    exec(compile(_f.read(), _os.path.normpath(_src), "exec"))
