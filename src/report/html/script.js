
(function () {
  var cases = Array.prototype.slice.call(document.querySelectorAll('.case'));
  var count = function (what) {
    return cases.filter(function (c) {
      return what === 'all' || c.dataset.status === what || (what === 'warned' && c.dataset.warned === 'yes') || (what === 'flaky' && c.dataset.flaky === 'yes');
    }).length;
  };
  var buttons = Array.prototype.slice.call(document.querySelectorAll('.counts button'));
  buttons.forEach(function (b) {
    var n = b.querySelector('.n');
    n.textContent = String(count(b.dataset.filter));
    n.dataset.filled = 'js';
  });
  var show = function (what) {
    cases.forEach(function (c) {
      var on = what === 'all' || c.dataset.status === what || (what === 'warned' && c.dataset.warned === 'yes') || (what === 'flaky' && c.dataset.flaky === 'yes');
      c.hidden = !on;
    });
    buttons.forEach(function (b) { b.setAttribute('aria-pressed', String(b.dataset.filter === what)); });
    // A suite whose cases are all filtered out goes too, heading and all.
    Array.prototype.forEach.call(document.querySelectorAll('.suite'), function (s) {
      s.hidden = !s.querySelector('.case:not([hidden])');
    });
  };
  buttons.forEach(function (b) {
    b.addEventListener('click', function () {
      show(b.dataset.filter);
      history.replaceState(null, '', '#' + b.dataset.filter);
    });
  });
  var start = location.hash.slice(1);
  show(buttons.some(function (b) { return b.dataset.filter === start; }) ? start : 'all');
  document.body.dataset.ready = 'yes';
})();
