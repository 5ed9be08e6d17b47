"""Tools of the demo agents: plain typed functions declared with `tether.tools.tool`."""
