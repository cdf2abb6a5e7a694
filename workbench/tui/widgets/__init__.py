"""Small widgets shared by the workbench's views and screens."""
