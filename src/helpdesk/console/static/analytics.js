// Analytics charts: the page (console dashboard or HTML report) carries its data as a
// JSON block (#analytics-data); every <canvas data-chart="name"> gets the chart of
// data[name] = {labels, series: [{label, data}], percent?, horizontal?}, drawn by the
// vendored Chart.js. No inline script: the console's CSP forbids it.
(function () {
  "use strict";

  var COLORS = ["#2150c8", "#15803d", "#b45309", "#7c3aed", "#b42318", "#0e7490"];
  var BAR = { volume: true, ratings: true, reasons: true, response_times: true, clusters: true };

  function read() {
    var block = document.getElementById("analytics-data");
    if (!block) return null;
    try {
      return JSON.parse(block.textContent);
    } catch (error) {
      return null;
    }
  }

  function config(name, spec) {
    var bar = !!BAR[name];
    var percent = !!spec.percent;
    var datasets = spec.series.map(function (series, i) {
      var color = COLORS[i % COLORS.length];
      return {
        label: series.label,
        data: series.data,
        backgroundColor: bar ? color + (i === 0 ? "" : "66") : color + "22",
        borderColor: color,
        borderWidth: bar ? 0 : 2,
        pointRadius: spec.labels.length > 45 ? 0 : 3,
        spanGaps: true,
        fill: false,
        tension: 0
      };
    });
    var valueAxis = {
      beginAtZero: true,
      ticks: {
        precision: percent ? undefined : 0,
        callback: percent
          ? function (value) {
              return value + " %";
            }
          : undefined
      }
    };
    if (percent) valueAxis.max = 100;
    var scales = spec.horizontal ? { x: valueAxis } : { y: valueAxis };
    return {
      type: bar ? "bar" : "line",
      data: { labels: spec.labels, datasets: datasets },
      options: {
        indexAxis: spec.horizontal ? "y" : "x",
        responsive: true,
        maintainAspectRatio: false,
        // The report is printed and screenshotted: draw at once, no animation.
        animation: false,
        plugins: {
          legend: { display: datasets.length > 1, position: "bottom" },
          tooltip: {
            callbacks: percent
              ? {
                  label: function (item) {
                    return item.dataset.label + ": " + item.formattedValue + " %";
                  }
                }
              : {}
          }
        },
        scales: scales
      }
    };
  }

  function draw() {
    var data = read();
    window.helpdeskCharts = [];
    if (!data || typeof window.Chart === "undefined") return;
    document.querySelectorAll("canvas[data-chart]").forEach(function (canvas) {
      var name = canvas.getAttribute("data-chart");
      var spec = data[name];
      if (!spec || !spec.series) return;
      var empty = spec.labels.length === 0;
      if (empty) {
        var note = document.createElement("p");
        note.className = "chart-empty";
        note.textContent = "Nothing to show for this period.";
        canvas.parentNode.appendChild(note);
      }
      var chart = new window.Chart(canvas, config(name, spec));
      canvas.setAttribute("data-drawn", "true");
      window.helpdeskCharts.push(chart);
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", draw);
  } else {
    draw();
  }
})();
