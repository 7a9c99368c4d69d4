// Passes a parameter the module does not declare (a typo of size).
module m '../fixtures/module.bicep' = {
  name: 'm'
  params: {
    name: 'a'
    sise: 2
  }
}
