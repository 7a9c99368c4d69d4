// The params object is never closed.
module m '../fixtures/module.bicep' = {
  name: 'm'
  params: {
    name: 'a'
}

output id string = m.outputs.id
