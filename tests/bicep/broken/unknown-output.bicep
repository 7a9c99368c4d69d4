// Reads an output the module does not have.
module m '../fixtures/module.bicep' = {
  name: 'm'
  params: {
    name: 'a'
  }
}

output id string = m.outputs.identifier
