"""Notebook widgets, each built by a function that returns it.

Tests drive them without a browser (set a value, call ``button.click()``,
read the result); the browser tests drive the same widgets in JupyterLab.
ipywidgets is imported only by these modules, never by ``import labkit``.

- ``labkit.widgets.inspector``: the block inspector (notebook 02)
- ``labkit.widgets.mining``: the difficulty widget (notebook 03)
- ``labkit.widgets.chain``: the red chain: peers' copies, edit a block, re-mine (notebook 04)
- ``labkit.widgets.contracts``: the contract builder (notebook 06)
- ``labkit.widgets.swarm``: torrent progress bars (notebooks 05 and 07)
- ``labkit.widgets.classroom``: the live dashboard of a classroom's nodes: members, block tree, state, events (notebook 09)
"""
