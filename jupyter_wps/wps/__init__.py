"""The WPS protocol, pure: parse requests, build responses, OWS exceptions.

Nothing here imports tornado or Jupyter: the launcher on a compute node uses
these modules to write status documents.
"""
