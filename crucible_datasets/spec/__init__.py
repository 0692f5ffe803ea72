"""Pipeline specs: a pipeline (source, stages, sink, runner) as a YAML or JSON file.

``load_spec(path_or_mapping, overrides)`` reads and checks one (every problem at once, with its
line), ``PipelineSpec.run()`` writes it, ``PipelineSpec.build()`` gives the dataset and the
writer's arguments; ``Pipeline.from_spec`` / ``ds.to_spec()`` read and write the source and
stages. ``schema.json`` beside this file is the spec's JSON Schema; ``docs/SPEC.md`` describes
every key. A spec is as trusted as the code it names: loading one imports the modules of the
functions and stage classes it names, and runs nothing else.
"""

from crucible_datasets.pipeline import Pipeline
from crucible_datasets.spec.document import Document, read_document, read_file
from crucible_datasets.spec.export import pipeline_spec
from crucible_datasets.spec.pipeline_spec import PipelineSpec, load_spec, pipeline_from_spec
from crucible_datasets.spec.problems import Problem, SpecError
from crucible_datasets.spec.schema import SCHEMA

Pipeline.spec_reader = pipeline_from_spec

__all__ = [
    "SCHEMA",
    "Document",
    "PipelineSpec",
    "Problem",
    "SpecError",
    "load_spec",
    "pipeline_from_spec",
    "pipeline_spec",
    "read_document",
    "read_file",
]
