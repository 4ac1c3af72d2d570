// Runs the npm package cfn-lint on a template and prints its ValidationResult as JSON, with
// the resource specification it ships brought up to date for the properties the template uses
// that the specification lacks (cfn-lint-spec.json beside this file).
//
//   node cfn-lint.js CFN_LINT_PACKAGE_DIR TEMPLATE [NAME=VALUE ...]
//
// cfn-lint 1.9.7 ships version 2.29.0 of the CloudFormation resource specification, of 2019,
// and takes no other on its command line; its API reads the one its awsData module holds,
// which is added to here before the validator is loaded. TestCfnLintSpecIsCurrent holds every
// property added to goformation's copy of the current specification.
'use strict';
const path = require('path');

const [pkg, template, ...params] = process.argv.slice(2);
const awsData = require(path.join(pkg, 'lib', 'awsData'));
const additions = require('./cfn-lint-spec.json');
for (const section of ['ResourceTypes', 'PropertyTypes']) {
	for (const [type, def] of Object.entries(additions[section] || {})) {
		const known = awsData.awsResources[section][type];
		if (!known) {
			throw new Error(`cfn-lint's specification has no ${type}`);
		}
		for (const [name, prop] of Object.entries(def.Properties)) {
			if (name in known.Properties) {
				throw new Error(`cfn-lint's specification already has ${type}.${name}: drop it from cfn-lint-spec.json`);
			}
			known.Properties[name] = prop;
		}
	}
}

const api = require(path.join(pkg, 'lib', 'api'));
const parameters = {};
for (const p of params) {
	const i = p.indexOf('=');
	parameters[p.slice(0, i)] = p.slice(i + 1);
}
// Every parameter without a default must be given: a guessed value would check nothing.
const result = api.validateFile(template, { parameters, guessParameters: [] });
process.stdout.write(JSON.stringify(result, null, 2) + '\n');
