# syntax=docker/dockerfile:1.7
# bids_deface container image.
#
#   docker build --build-arg VERSION=$(git describe --tags --always) -t bids_deface:latest .
#   docker run --rm -v /data/ds:/data:ro -v /data/out:/out bids_deface:latest /data /out participant
#
# Stages: "builder" makes a virtual environment with the project's wheel and the exact versions
# of docker/constraints.txt (frozen from the environment the test suite passed in); "runtime"
# copies that environment onto a clean base and runs as a non-root user; "test" (used by CI
# only: --target test) adds the test dependencies and the test suite. The default target is
# the runtime image (the last stage).
#
# Build arguments:
#   VERSION             version string of the build (the build context has no .git)
#   FREESURFER=1        also install FreeSurfer (for --impact freesurfer). FreeSurfer needs a
#                       licence at run time: -v /path/license.txt:/opt/freesurfer/license.txt:ro
#   FREESURFER_VERSION  FreeSurfer release to install (default 7.4.1)

ARG PYTHON_IMAGE=python:3.11.13-slim-bookworm

# ------------------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS builder
ARG VERSION=0.0.0+docker
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1
WORKDIR /src
COPY docker/constraints.txt /tmp/constraints.txt
RUN python -m venv /opt/venv \
 && /opt/venv/bin/python -m pip install -c /tmp/constraints.txt --upgrade pip setuptools
COPY pyproject.toml README.md ./
COPY bids_deface ./bids_deface
# hatch-vcs reads the version from SETUPTOOLS_SCM_PRETEND_VERSION when there is no .git
RUN SETUPTOOLS_SCM_PRETEND_VERSION="${VERSION}" /opt/venv/bin/python -m pip wheel --no-deps -w /tmp/wheels . \
 && /opt/venv/bin/python -m pip install -c /tmp/constraints.txt /tmp/wheels/bids_deface-*.whl \
 && find /opt/venv -depth -type d -name tests -prune -exec rm -rf {} + \
 && /opt/venv/bin/python -m pip check

# ------------------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS runtime
ARG VERSION=0.0.0+docker
ARG FREESURFER=0
ARG FREESURFER_VERSION=7.4.1
SHELL ["/bin/bash", "-o", "pipefail", "-c"]

# Optional FreeSurfer (about 4 GB unpacked even trimmed: off by default)
RUN if [ "${FREESURFER}" = "1" ]; then \
      apt-get update \
      && apt-get install -y --no-install-recommends bc ca-certificates curl libgomp1 perl tcsh \
      && curl -fsSL "https://surfer.nmr.mgh.harvard.edu/pub/dist/freesurfer/${FREESURFER_VERSION}/freesurfer-linux-ubuntu22_amd64-${FREESURFER_VERSION}.tar.gz" \
         | tar -xz -C /opt --no-same-owner \
             --exclude='freesurfer/diffusion' --exclude='freesurfer/docs' --exclude='freesurfer/fsfast' \
             --exclude='freesurfer/lib/cuda' --exclude='freesurfer/lib/qt' --exclude='freesurfer/matlab' \
             --exclude='freesurfer/mni/share/man' --exclude='freesurfer/subjects/bert' \
             --exclude='freesurfer/subjects/fsaverage_sym' --exclude='freesurfer/trctrain' \
             --exclude='freesurfer/average/mult-comp-cor' --exclude='freesurfer/average/samseg' \
      && apt-get purge -y curl && apt-get autoremove -y \
      && rm -rf /var/lib/apt/lists/*; \
    fi
ENV FREESURFER_HOME=/opt/freesurfer \
    SUBJECTS_DIR=/opt/freesurfer/subjects \
    FS_LICENSE=/opt/freesurfer/license.txt \
    FS_OVERRIDE=0 \
    FSF_OUTPUT_FORMAT=nii.gz \
    MNI_DIR=/opt/freesurfer/mni \
    PERL5LIB=/opt/freesurfer/mni/share/perl5

# A non-root user; its home is writable by any uid (docker run -u, Singularity/Apptainer)
RUN groupadd --gid 1000 bidsdeface \
 && useradd --create-home --gid 1000 --home-dir /home/bidsdeface --shell /bin/bash --uid 1000 bidsdeface \
 && chmod 777 /home/bidsdeface

COPY --from=builder /opt/venv /opt/venv

# Everything the app loads is in the image: the head template and masks (bids_deface and
# pydeface packages), the dlib face models (face-recognition-models), OpenCV's Haar cascades.
# No network at run time: nipype/etelemetry version checks and TemplateFlow updates are off
# (bids_deface gives TemplateFlow an empty home of its own: niworkflows imports it).
ENV PATH="/opt/venv/bin:/opt/freesurfer/bin:/opt/freesurfer/mni/bin:${PATH}" \
    HOME=/home/bidsdeface \
    BIDS_DEFACE_CONTAINER="docker:${VERSION}" \
    BIDS_DEFACE_CACHE_DIR=/home/bidsdeface/.cache/bids_deface \
    TEMPLATEFLOW_AUTOUPDATE=0 \
    MPLCONFIGDIR=/home/bidsdeface/.config/matplotlib \
    NIPYPE_NO_ET=1 \
    NO_ET=1 \
    PYTHONNOUSERSITE=1 \
    OMP_NUM_THREADS=1

USER 1000:1000
# Check that the models are baked in and initialise the caches (as the runtime user)
RUN python -c "import bids_deface.interfaces.bids, matplotlib.pyplot" \
 && python -c "import face_recognition_models as m, pathlib; assert pathlib.Path(m.pose_predictor_model_location()).is_file()" \
 && python -c "import dlib, ants, cv2, pathlib; assert pathlib.Path(cv2.data.haarcascades, 'haarcascade_frontalface_default.xml').is_file()" \
 && python -c "import importlib.resources as r; assert (r.files('pydeface') / 'data' / 'mean_reg2mean.nii.gz').is_file()" \
 && bids-deface --version \
 && chmod -R a+rwX /home/bidsdeface

WORKDIR /tmp
LABEL org.opencontainers.image.title="bids_deface" \
      org.opencontainers.image.description="BIDS App: deface structural MRI and prove that no face is left and no brain was removed" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0"
ENTRYPOINT ["bids-deface"]

# ------------------------------------------------------------------------------------------
# CI only (docker buildx build --target test): the same environment plus the test extra.
FROM runtime AS test
USER 0:0
COPY --from=builder /tmp/wheels /tmp/wheels
COPY docker/constraints.txt /tmp/constraints.txt
RUN whl=$(ls /tmp/wheels/bids_deface-*.whl) \
 && /opt/venv/bin/python -m pip install --no-cache-dir -c /tmp/constraints.txt "${whl}[test]"
COPY pyproject.toml Makefile Dockerfile singularity.def .dockerignore /src/
COPY docker /src/docker
COPY tests /src/tests
COPY docs /src/docs
COPY .circleci /src/.circleci
RUN chmod -R a+rwX /src
USER 1000:1000
WORKDIR /src
ENTRYPOINT ["pytest"]

# ------------------------------------------------------------------------------------------
# The default target: the runtime image.
FROM runtime AS final
