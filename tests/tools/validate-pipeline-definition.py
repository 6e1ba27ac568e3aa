"""Validates SageMaker pipeline definitions against the published definition schema.

The schema is reference data outside the project and is never copied into it: --schema PATH, else
RLABS_PIPELINE_SCHEMA, else shared/reference/ beside the repository or beside any folder above it, else
/work/shared/reference. The README's corrections are applied (Std:Join as SageMaker takes it, On and Values,
wherever a string argument may be given; AppManaged on processing inputs and outputs;
PipelineExperimentConfig; PropertyFiles; ExceptionType as a list); everything else stays strict. Draft 7, the
schema's own vocabulary. Used by the xunit tests (PipelineDefinitionValidation) and the Pester engine tests.

Prints one line per violation; exits 0 when every definition validates, 1 on violations, 2 without a schema.
"""
import json
import os
import sys

import jsonschema

NAME = 'sagemaker-pipeline-definition.schema.json'


def find_schema(args):
    if len(args) >= 2 and args[0] == '--schema':
        return args[1], args[2:]
    given = os.environ.get('RLABS_PIPELINE_SCHEMA')
    if given:
        return given, args
    folder = os.path.dirname(os.path.abspath(__file__))
    while True:
        candidate = os.path.join(folder, 'shared', 'reference', NAME)
        if os.path.isfile(candidate):
            return candidate, args
        parent = os.path.dirname(folder)
        if parent == folder:
            break
        folder = parent
    return os.path.join('/work', 'shared', 'reference', NAME), args


def corrected(schema):
    d = schema['definitions']
    d['JoinFunction'] = {'type': 'object', 'additionalProperties': False, 'required': ['Std:Join'], 'properties': {'Std:Join': {
        'type': 'object', 'additionalProperties': False, 'required': ['On', 'Values'], 'properties': {
            'On': {'type': 'string'},
            'Values': {'type': 'array', 'items': {'oneOf': [{'type': 'string'}, {'type': 'number'}, {'type': 'boolean'}, {'$ref': '#/definitions/GetFunction'}, {'$ref': '#/definitions/JoinFunction'}]}}}}}}
    d['StringArgumentValue']['oneOf'].append({'$ref': '#/definitions/JoinFunction'})
    args = d['ProcessingArgs']['properties']
    args['ProcessingInputs']['items']['properties']['AppManaged'] = {'type': 'boolean'}
    args['ProcessingOutputConfig']['properties']['Outputs']['items']['properties']['AppManaged'] = {'type': 'boolean'}
    schema['properties']['PipelineExperimentConfig'] = {'type': 'object'}
    d['ProcessingStep']['properties']['PropertyFiles'] = {'type': 'array'}
    d['RetryPolicy']['properties']['ExceptionType'] = {'type': 'array', 'minItems': 1, 'items': d['RetryPolicy']['properties']['ExceptionType']}
    return schema


def main(argv):
    path, files = find_schema(argv)
    if not os.path.isfile(path):
        print('The SageMaker pipeline definition schema is not on this machine:', path, file=sys.stderr)
        return 2
    validator = jsonschema.Draft7Validator(corrected(json.load(open(path))))
    count = 0
    for file in files:
        for error in validator.iter_errors(json.load(open(file))):
            count += 1
            print(file, '/'.join(str(p) for p in error.absolute_path), error.message[:400])
    return 1 if count else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
