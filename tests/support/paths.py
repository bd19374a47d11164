"""Paths the tests share: the repository root and ../shared/data beside it."""

import os

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SHARED_DATA = os.path.join(os.path.dirname(ROOT), 'shared', 'data')
