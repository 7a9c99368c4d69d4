// Does not pass the module's required parameter name (size and note are optional).
module m '../fixtures/module.bicep' = if (true) {
  name: 'm'
  params: {
    size: 2
  }
}
