"""The Singularity/Apptainer wrapper (``run_singularity.py``): runs a job script inside an
image. settings.py reads the job arguments and the ``singularity.*`` settings,
wrapper.py builds the command, runs it and forwards signals and exit codes."""
