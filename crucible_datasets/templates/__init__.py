"""Dataflow flex templates of a pipeline spec (``crucible template build``; docs/TEMPLATES.md).

``flex.py`` the template spec file and its parameters, ``dockerfile.py`` the launcher image,
``build.py`` the build, ``launcher.py`` the image's entry point, ``command.py`` the command line.
"""
