"""Pictures and pages from arrays: PNG grids, matplotlib charts, HTML. numpy, PIL and matplotlib only."""
