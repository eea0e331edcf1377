# neurosweep in a container: Debian 12, every dependency from Debian's archive, the project built
# inside with the README's setup command, run as a non-root user, `neurosweep` on PATH.
#
#   docker build -t neurosweep .
#   docker run --rm -v "$PWD:$PWD" -w "$PWD" neurosweep \
#     mpirun -np 3 neurosweep run examples/quadratic.json --out "$PWD/runs/quad"
#
# The same image serves the cluster forms `neurosweep launch` writes: Slurm with pyxis
# (--container-image), LSF with Docker (RIS: -a 'docker(IMAGE)'), and Apptainer after
# `apptainer build neurosweep.sif docker-daemon://neurosweep:latest` (or neurosweep.def).
# A CUDA LibTorch is not in Debian: for GPUs, build FROM an image that has one and set
# CMAKE_PREFIX_PATH for setup.sh.
FROM debian:12

ARG DEBIAN_FRONTEND=noninteractive
WORKDIR /opt/neurosweep/src
COPY . .
# README "Setup": scripts/setup.sh installs the Debian packages (apt-get, as root here) and builds.
# Its cache (the report's Plotly bundle, compiled in by path) sits where the non-root user reads it.
ENV NS_CACHE=/opt/neurosweep/cache
RUN bash scripts/setup.sh \
 && install -m 0755 build/app/neurosweep /usr/local/bin/neurosweep \
 && rm -rf build /var/lib/apt/lists/* \
 && useradd --create-home --uid 1000 --shell /bin/bash sweeper

# Docker's default seccomp profile blocks the cross-memory attach Open MPI uses between ranks on
# one host; plain shared memory works everywhere.
ENV OMPI_MCA_btl_vader_single_copy_mechanism=none
USER sweeper
WORKDIR /home/sweeper
CMD ["neurosweep", "--help"]
