"""The base layer: what every other package may use, and which imports no other project package.

    errors     the one user-facing error family (UserInputError and its kinds)
    files      atomic writes of files and folders, JSON reading with errors that name the file
    progress   the progress line of long work (done/total, rate, ETA)
    console    filtering native log lines written to file descriptors 1 and 2
    geometry   object box <-> model input maps in numpy, named by direction
    cpu        the processor's model name and feature flags (16-bit units), from /proc/cpuinfo
    video      the one video output: atomic, checked, one codec rule by extension
"""
