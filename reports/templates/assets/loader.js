// Unpacks the inlined plotly.js (gzip, base64) and draws every figure slot from its JSON.
// Included by page.html.j2; the page's CSP allows inline scripts and nothing from a host.
(function () {
  "use strict";
  // plotly's own links and cloud buttons off: the page talks to nobody
  var config = {"displaylogo": false, "showLink": false, "showSendToCloud": false,
                "showEditInChartStudio": false, "plotlyServerURL": "", "typesetMath": false,
                "responsive": true};
  function say(text) {
    var box = document.getElementById("plot-status");
    box.textContent = text;
    box.hidden = !text;
  }
  function draw() {
    var slots = document.querySelectorAll("div[data-figure]");
    for (var i = 0; i < slots.length; i++) {
      var holder = document.getElementById(slots[i].getAttribute("data-figure"));
      var spec = JSON.parse(holder.textContent);
      Plotly.newPlot(slots[i], spec.data, spec.layout, config);
    }
    document.body.setAttribute("data-drawn", String(slots.length));
    say("");
  }
  function run(code) {
    var script = document.createElement("script");
    script.textContent = code;
    document.head.appendChild(script);
    draw();
  }
  if (typeof DecompressionStream === "undefined") {
    say("This browser cannot unpack the charts (no DecompressionStream: Chrome 80, " +
        "Firefox 113 and Safari 16.4 or later have it). Every number is in the tables.");
    return;
  }
  var text = atob(document.getElementById("plotly-js").textContent.trim());
  var bytes = new Uint8Array(text.length);
  for (var i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);
  var stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"));
  new Response(stream).text().then(run).catch(function (error) {
    say("The charts could not be drawn: " + error);
  });
})();
